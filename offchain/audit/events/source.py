"""The vault's history from an RPC endpoint: its logs in chain order, and each batch's rows from the
calldata of the `settle` call that emitted it.

Logs are fetched with `eth_getLogs` over block ranges and decoded against the exported ABI; the
transactions behind `BatchSettled` events are fetched in JSON-RPC batches. A `settle` made by a contract
(a multisig submitting the batch) is found with `debug_traceTransaction`'s call tracer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from offchain.audit.errors import AuditError
from offchain.audit.events.types import (
    AdvanceRepaid,
    AssetListed,
    BatchSettled,
    ContributionChanged,
    DebtCollateralSeized,
    DefaultClosed,
    DefaultDeclared,
    Deposited,
    EstateClaimed,
    ExitLapsed,
    ExitRequestCancelled,
    ExitRequested,
    LiquidityAdvanced,
    MarginCalled,
    MemberAdmitted,
    SettleCall,
    SignersUpdated,
    VaultEvent,
    WaterfallDraw,
    Where,
    WindDownTriggered,
    WindDownWithdrawal,
    WithdrawalCancelled,
    WithdrawalExecuted,
    WithdrawalRecalled,
    WithdrawalRequested,
)
from offchain.chain.artifacts import load_artifact
from offchain.chain.signers import SignerSignature
from offchain.core.batch import Mark, Requirement, Transfer


@dataclass(frozen=True)
class _EventAbi:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data: tuple[tuple[str, str], ...]


def _canonical_type(inp: dict[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in inp["components"]) + ")" + t[len("tuple") :]
    return t


def _event_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, _EventAbi]:
    out: dict[bytes, _EventAbi] = {}
    for item in abi:
        if item.get("type") != "event":
            continue
        types = [_canonical_type(i) for i in item["inputs"]]
        topic = keccak(text=f"{item['name']}({','.join(types)})")
        pairs = list(zip((i["name"] for i in item["inputs"]), types, strict=True))
        flags = [bool(i.get("indexed")) for i in item["inputs"]]
        out[topic] = _EventAbi(
            item["name"],
            tuple(p for p, f in zip(pairs, flags, strict=True) if f),
            tuple(p for p, f in zip(pairs, flags, strict=True) if not f),
        )
    return out


def _decode_args(spec: _EventAbi, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for (name, typ), topic in zip(spec.indexed, topics[1:], strict=True):
        args[name] = decode([typ], topic)[0]
    values = decode([t for _, t in spec.data], data) if spec.data else ()
    args.update({name: v for (name, _), v in zip(spec.data, values, strict=True)})
    return args


def _typed(name: str, at: Where, a: dict[str, Any]) -> VaultEvent | None:
    match name:
        case "MemberAdmitted":
            return MemberAdmitted(at, str(to_checksum_address(a["member"])), int(a["account"]))
        case "AssetListed":
            return AssetListed(
                at,
                int(a["asset"]),
                str(to_checksum_address(a["token"])),
                int(a["decimals"]),
                int(a["price"]),
                int(a["haircutBps"]),
            )
        case "SignersUpdated":
            return SignersUpdated(at, tuple(str(to_checksum_address(s)) for s in a["signers"]), int(a["threshold"]))
        case "Deposited":
            return Deposited(at, int(a["account"]), int(a["asset"]), str(a["from"]), int(a["amount"]))
        case "WithdrawalRequested":
            return WithdrawalRequested(
                at, int(a["id"]), int(a["account"]), int(a["asset"]), int(a["amount"]), str(a["to"]), int(a["readyAt"])
            )
        case "WithdrawalExecuted":
            return WithdrawalExecuted(at, int(a["id"]))
        case "WithdrawalCancelled":
            return WithdrawalCancelled(at, int(a["id"]))
        case "WithdrawalRecalled":
            return WithdrawalRecalled(at, int(a["id"]))
        case "ExitRequested":
            return ExitRequested(at, int(a["account"]))
        case "ExitRequestCancelled":
            return ExitRequestCancelled(at, int(a["account"]))
        case "ExitLapsed":
            return ExitLapsed(at, int(a["account"]))
        case "LiquidityAdvanced":
            return LiquidityAdvanced(at, int(a["account"]), int(a["amount"]))
        case "AdvanceRepaid":
            return AdvanceRepaid(at, int(a["account"]), int(a["amount"]))
        case "WindDownTriggered":
            return WindDownTriggered(at, int(a["lastSequence"]))
        case "WindDownWithdrawal":
            return WindDownWithdrawal(
                at, int(a["account"]), int(a["asset"]), str(a["to"]), int(a["amount"]), int(a["seizedForDebt"])
            )
        case "BatchSettled":
            return BatchSettled(
                at, int(a["sequence"]), bytes(a["digest"]), bytes(a["fillsRoot"]), int(a["asOf"]), int(a["transfers"])
            )
        case "DebtCollateralSeized":
            return DebtCollateralSeized(at, int(a["account"]), int(a["asset"]), int(a["seized"]))
        case "EstateClaimed":
            return EstateClaimed(at, int(a["account"]), int(a["asset"]), int(a["amount"]), int(a["nettedForDebt"]))
        case "ContributionChanged":
            return ContributionChanged(at, int(a["account"]), int(a["amount"]), int(a["value"]))
        case "MarginCalled":
            return MarginCalled(at, int(a["account"]), int(a["amount"]), int(a["deadline"]))
        case "DefaultDeclared":
            return DefaultDeclared(at, int(a["account"]))
        case "DefaultClosed":
            return DefaultClosed(at, int(a["account"]))
        case "WaterfallDraw":
            return WaterfallDraw(
                at,
                int(a["defaulter"]),
                int(a["layer"]),
                int(a["account"]),
                int(a["asset"]),
                int(a["amount"]),
                int(a["value"]),
            )
    return None  # configuration and role events move no balance


@dataclass(frozen=True)
class SettleAbi:
    """`settle`'s selector, argument types and batch field names, read from the exported ABI."""

    selector: bytes
    types: tuple[str, ...]
    fields: tuple[str, ...]  # the batch struct's field names, in order

    @classmethod
    def of(cls, abi: Sequence[dict[str, Any]]) -> SettleAbi:
        (fn,) = [i for i in abi if i.get("type") == "function" and i.get("name") == "settle"]
        types = tuple(_canonical_type(i) for i in fn["inputs"])
        return cls(
            keccak(text=f"settle({','.join(types)})")[:4],
            types,
            tuple(str(c["name"]) for c in fn["inputs"][0]["components"]),
        )

    def decode(self, data: bytes) -> SettleCall:
        """The rows and signatures of `settle(batch, signatures)` calldata (selector included)."""
        if data[:4] != self.selector:
            raise ValueError(f"not a settle call: selector 0x{data[:4].hex()}")
        raw, sigs = decode(list(self.types), data[4:])
        b = dict(zip(self.fields, raw, strict=True))
        return SettleCall(
            sequence=int(b["sequence"]),
            prev_hash=bytes(b["prevHash"]),
            as_of=int(b["asOf"]),
            fills_root=bytes(b["fillsRoot"]),
            transfers=tuple(Transfer.unpack(bytes(w)) for w in b["transfers"]),
            requirements=tuple(Requirement.unpack(bytes(w)) for w in b["requirements"]),
            marks=tuple(Mark.unpack(bytes(w)) for w in b["marks"]),
            approved_withdrawals=tuple(int(x) for x in b["approvedWithdrawals"]),
            context_hash=bytes(b["contextHash"]),
            signatures=tuple(SignerSignature(str(to_checksum_address(s)), bytes(sig)) for s, sig in sigs),
            raw=tuple(raw),
        )


def _hex(value: str | bytes) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


class VaultHistory:
    """Reads one vault's history. Everything is a read: no key, no state beyond the RPC endpoint."""

    def __init__(self, w3: Web3, vault: str, chunk_blocks: int = 50_000, rpc_batch: int = 200) -> None:
        self.w3 = w3
        self.vault = str(to_checksum_address(vault))
        self.chunk_blocks = chunk_blocks
        self.rpc_batch = rpc_batch
        abi = load_artifact("Vault").abi
        self.events = _event_table(abi)
        self.settle = SettleAbi.of(abi)

    def events_between(self, from_block: int, to_block: int) -> Iterator[VaultEvent]:
        """Every state-moving event in [from_block, to_block], in chain order, batches with their rows."""
        start = from_block
        while start <= to_block:
            end = min(start + self.chunk_blocks - 1, to_block)
            yield from self._with_calls(self._decoded(start, end))
            start = end + 1

    def _decoded(self, start: int, end: int) -> list[VaultEvent]:
        logs = self.w3.eth.get_logs({"address": to_checksum_address(self.vault), "fromBlock": start, "toBlock": end})
        out: list[VaultEvent] = []
        for log in logs:
            topics = [bytes(t) for t in log["topics"]]
            spec = self.events.get(topics[0]) if topics else None
            if spec is None:
                continue
            at = Where(int(log["blockNumber"]), int(log["logIndex"]), bytes(log["transactionHash"]))
            event = _typed(spec.name, at, _decode_args(spec, topics, bytes(log["data"])))
            if event is not None:
                out.append(event)
        return out

    def _with_calls(self, events: list[VaultEvent]) -> list[VaultEvent]:
        settled = [e for e in events if isinstance(e, BatchSettled)]
        calls: dict[bytes, SettleCall] = {}
        for i in range(0, len(settled), self.rpc_batch):
            chunk = settled[i : i + self.rpc_batch]
            for event, tx in zip(chunk, self._transactions([e.at.tx_hash for e in chunk]), strict=True):
                calls[event.at.tx_hash] = self._settle_call(event, tx)
        return [replace(e, call=calls[e.at.tx_hash]) if isinstance(e, BatchSettled) else e for e in events]

    def _transactions(self, hashes: list[bytes]) -> list[dict[str, Any]]:
        provider = self.w3.provider
        batch: Callable[..., Any] | None = getattr(provider, "make_batch_request", None)
        if batch is None or len(hashes) == 1:
            return [dict(self.w3.eth.get_transaction(h)) for h in hashes]  # type: ignore[arg-type]
        responses = batch([("eth_getTransactionByHash", ["0x" + h.hex()]) for h in hashes])
        if not isinstance(responses, list):
            raise AuditError(f"RPC batch request failed: {responses}")
        out = []
        for h, r in zip(hashes, sorted(responses, key=lambda r: int(r["id"])), strict=True):
            if "error" in r or r.get("result") is None:
                raise AuditError(f"cannot read transaction 0x{h.hex()}: {r.get('error')}")
            out.append(dict(r["result"]))
        return out

    def _settle_call(self, event: BatchSettled, tx: dict[str, Any]) -> SettleCall:
        data = _hex(tx["input"])
        to = tx.get("to")
        if to is not None and str(to_checksum_address(to)) == self.vault and data[:4] == self.settle.selector:
            return self.settle.decode(data)
        return self.settle.decode(self._traced_settle_input(event.at.tx_hash, event.sequence))

    def _traced_settle_input(self, tx_hash: bytes, sequence: int) -> bytes:
        """The input of the inner call to `settle` of a transaction sent to another contract."""
        resp = self.w3.provider.make_request(
            "debug_traceTransaction",  # type: ignore[arg-type]
            ["0x" + tx_hash.hex(), {"tracer": "callTracer"}],
        )
        if "result" not in resp:
            raise AuditError(
                f"batch {sequence} was settled through another contract; the RPC cannot trace it: {resp.get('error')}"
            )
        stack: list[dict[str, Any]] = [resp["result"]]
        vault = self.vault.lower()
        while stack:
            frame = stack.pop()
            data = _hex(frame.get("input", "0x"))
            if str(frame.get("to", "")).lower() == vault and data[:4] == self.settle.selector:
                call = self.settle.decode(data)
                if call.sequence == sequence:
                    return data
            stack.extend(reversed(frame.get("calls", [])))
        raise AuditError(f"batch {sequence}: no settle call found in transaction 0x{tx_hash.hex()}")
