"""`crossclear gov`: timelocked changes to a deployment — schedule, list, execute, cancel.

Every governed change is one call through the vault's governor, an OpenZeppelin TimelockController:
`schedule` stores its hash and the earliest execution time, `execute` runs it once the delay has passed,
and the timelock's own events (`CallScheduled`, `CallSalt`, `CallExecuted`, `Cancelled`) are the list of
operations, so nothing is kept off-chain. Typed builders cover the vault's governed parameters (assets,
signer set, delays) and the timelock's own delay; `call` builds any other governed call (an on-chain
registry entry, a role grant) from a function signature and arguments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from offchain.app.settings import DeploymentDescription
from offchain.chain.artifacts import load_artifact
from offchain.chain.errors import ErrorDecoder
from offchain.chain.transactions import Sent, TxSender
from offchain.chain.vault import VaultClient
from offchain.config.settings import SettingsError

ZERO32 = b"\x00" * 32
STATES = {0: "unset", 1: "waiting", 2: "ready", 3: "done"}


class GovernanceError(SettingsError):
    """A governed change cannot be built, found or executed as asked."""


@dataclass(frozen=True)
class Change:
    """One governed call: `target.call{value}(data)` made by the timelock."""

    target: str
    data: bytes
    description: str
    value: int = 0


@dataclass(frozen=True)
class Operation:
    id: bytes
    target: str
    value: int
    data: bytes
    predecessor: bytes
    salt: bytes
    delay_s: int
    state: str  # unset (cancelled), waiting, ready, done
    ready_at: int  # chain time when it may execute (0 once cancelled; 1 once done, as the timelock says)
    description: str


def governance_decoder() -> ErrorDecoder:
    """Custom errors of the timelock and of what it calls (the vault bubbles up through it)."""
    return ErrorDecoder(load_artifact("Timelock").abi + load_artifact("Vault").abi + load_artifact("DevToken").abi)


class Governance:
    """The timelock of one deployment, and builders for the changes it governs."""

    def __init__(self, w3: Web3, deployment: DeploymentDescription) -> None:
        if deployment.timelock is None:
            raise GovernanceError("this deployment has no timelock: its deployer governs directly (devnet)")
        self.w3 = w3
        self.deployment = deployment
        self.vault = VaultClient(w3, deployment.vault)
        self.timelock: Contract = w3.eth.contract(
            address=to_checksum_address(deployment.timelock), abi=load_artifact("Timelock").abi
        )

    # ---------------------------------------------------------------- changes

    def _vault_call(self, fn: str, args: Sequence[Any], description: str) -> Change:
        data = self.vault.contract.encode_abi(fn, args=list(args))
        return Change(self.vault.address, HexBytes(data), description)

    def list_asset(self, token: str, price: int, haircut_bps: int) -> Change:
        """List `token` with its first mark: `price` in settlement-asset base units per whole token, > 0."""
        if price <= 0:
            raise GovernanceError("an asset is listed with its first mark: the price must be > 0")
        if not 0 <= haircut_bps <= 10_000:
            raise GovernanceError(f"haircut {haircut_bps} bps must be between 0 and 10000")
        return self._vault_call(
            "listAsset",
            [to_checksum_address(token), price, haircut_bps],
            f"list asset {token} at {price} (settlement base units per token), haircut {haircut_bps} bps",
        )

    def set_signers(self, signers: Sequence[str], threshold: int) -> Change:
        if not 1 <= threshold <= len(signers):
            raise GovernanceError(f"threshold {threshold} must be between 1 and the {len(signers)} signers")
        ordered = sorted((to_checksum_address(s) for s in signers), key=lambda a: int(a, 16))
        return self._vault_call("setSigners", [ordered, threshold], f"signers {threshold}-of-{len(ordered)}")

    def set_withdrawal_delay(self, seconds: int) -> Change:
        return self._vault_call("setWithdrawalDelay", [seconds], f"withdrawal delay {seconds} s")

    def set_escape_period(self, seconds: int) -> Change:
        return self._vault_call("setEscapePeriod", [seconds], f"escape period {seconds} s")

    def set_timelock_delay(self, seconds: int) -> Change:
        data = self.timelock.encode_abi("updateDelay", args=[seconds])
        return Change(self.timelock.address, HexBytes(data), f"timelock delay {seconds} s")

    def call(self, target: str, signature: str, args: Sequence[str]) -> Change:
        """Any governed call, e.g. an on-chain registry entry: `signature` like `setVenueKey(string,address)`,
        `args` as text (numbers, addresses, 0x-bytes, or JSON for arrays and booleans)."""
        types = _arg_types(signature)
        if len(types) != len(args):
            raise GovernanceError(f"{signature} takes {len(types)} arguments, {len(args)} given")
        values = [_parse_arg(t, a) for t, a in zip(types, args, strict=True)]
        data = function_signature_to_4byte_selector(signature) + encode(types, values)
        return Change(to_checksum_address(target), data, f"{signature} on {target}")

    # ---------------------------------------------------------------- operations

    def min_delay(self) -> int:
        return int(self.timelock.functions.getMinDelay().call())

    def schedule(self, proposer: TxSender, change: Change, delay_s: int | None = None) -> Operation:
        delay = self.min_delay() if delay_s is None else delay_s
        salt = os.urandom(32)  # so the same change can be scheduled again after a cancel or an execution
        f = self.timelock.functions
        sent = proposer.send(f.schedule(change.target, change.value, change.data, ZERO32, salt, delay))
        (event,) = self.timelock.events.CallScheduled().process_receipt(sent.receipt, errors=DISCARD)
        return self.operation(bytes(event["args"]["id"]))

    def operations(self) -> list[Operation]:
        """Every operation ever scheduled on this timelock, oldest first, with its current state."""
        start = self.deployment.block
        ev = self.timelock.events
        scheduled = ev.CallScheduled().get_logs(from_block=start)
        salts = {bytes(x["args"]["id"]): bytes(x["args"]["salt"]) for x in ev.CallSalt().get_logs(from_block=start)}
        return [self._operation(log, salts.get(bytes(log["args"]["id"]), ZERO32)) for log in scheduled]

    def operation(self, op_id: bytes) -> Operation:
        matching = [op for op in self.operations() if op.id == op_id]
        if not matching:
            raise GovernanceError(f"no operation 0x{op_id.hex()} was scheduled on {self.timelock.address}")
        return matching[-1]

    def execute(self, executor: TxSender, op_id: bytes) -> Sent:
        op = self.operation(op_id)
        if op.state != "ready":
            now = self.chain_now()
            wait = f", ready in {op.ready_at - now} s" if op.state == "waiting" else ""
            raise GovernanceError(f"operation 0x{op_id.hex()} is {op.state}{wait}")
        f = self.timelock.functions
        return executor.send(f.execute(op.target, op.value, op.data, op.predecessor, op.salt))

    def chain_now(self) -> int:
        """The time of the block a transaction sent now would join."""
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def cancel(self, proposer: TxSender, op_id: bytes) -> Sent:
        self.operation(op_id)
        return proposer.send(self.timelock.functions.cancel(op_id))

    def listed_assets(self, sent: Sent) -> list[int]:
        """Asset numbers the vault listed in an executed operation's transaction."""
        events = self.vault.contract.events.AssetListed().process_receipt(sent.receipt, errors=DISCARD)
        return [int(e["args"]["asset"]) for e in events]

    def _operation(self, log: Any, salt: bytes) -> Operation:
        a = log["args"]
        op_id = bytes(a["id"])
        f = self.timelock.functions
        # "pending": the state in the block an execution would join (on a quiet chain the latest block is old)
        state = STATES[int(f.getOperationState(op_id).call(block_identifier="pending"))]
        return Operation(
            id=op_id,
            target=str(a["target"]),
            value=int(a["value"]),
            data=bytes(a["data"]),
            predecessor=bytes(a["predecessor"]),
            salt=salt,
            delay_s=int(a["delay"]),
            state=state,
            ready_at=int(f.getTimestamp(op_id).call()),
            description=self.describe(str(a["target"]), bytes(a["data"])),
        )

    def describe(self, target: str, data: bytes) -> str:
        """`fn(args)` decoded against the vault's or the timelock's ABI, else the raw selector."""
        for contract in (self.vault.contract, self.timelock):
            if to_checksum_address(target) == contract.address:
                try:
                    fn, params = contract.decode_function_input(data)
                except ValueError:
                    break
                shown = ", ".join(f"{k}={_show(v)}" for k, v in params.items())
                return f"{fn.fn_name}({shown})"
        return f"call 0x{data[:4].hex()} on {target}"


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _arg_types(signature: str) -> list[str]:
    if "(" not in signature or not signature.endswith(")"):
        raise GovernanceError(f"not a function signature: {signature!r} (expected e.g. setFee(uint256))")
    inner = signature[signature.index("(") + 1 : -1]
    if "(" in inner:
        raise GovernanceError("tuple arguments are not supported here: encode the call yourself")
    return [t.strip() for t in inner.split(",")] if inner.strip() else []


def _parse_arg(abi_type: str, text: str) -> Any:
    try:
        if abi_type.endswith("]") or abi_type == "bool":
            return json.loads(text)
        if abi_type.startswith(("uint", "int")):
            return int(text, 0)
        if abi_type == "address":
            return to_checksum_address(text)
        if abi_type.startswith("bytes"):
            return bytes.fromhex(text.removeprefix("0x"))
    except ValueError as exc:
        raise GovernanceError(f"argument {text!r} is not a valid {abi_type}: {exc}") from exc
    return text
