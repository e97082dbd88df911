"""What the API reads from and sends to the chain, behind one small interface (`ChainGateway`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import requests
from eth_utils import to_checksum_address
from web3.exceptions import Web3Exception

from offchain.api.errors import ApiError, chain_unavailable
from offchain.api.signing import EIP1271_MAGIC
from offchain.chain.errors import ChainError, RevertedError
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, WithdrawalInfo
from offchain.core.withdrawal import WithdrawalRequest

_IERC1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]

# Failures of the node or the transport, as opposed to a revert the vault chose.
TRANSPORT_ERRORS = (requests.RequestException, ConnectionError, TimeoutError, OSError, Web3Exception, ChainError)


@dataclass(frozen=True)
class WithdrawalView:
    id: int
    account: int
    asset: int
    amount: int
    to: str
    ready_at: int
    status: str
    tx_hash: str | None


# The vault's events of a withdrawal after its request, indexed by id only: the status each one sets.
WITHDRAWAL_LIFECYCLE = {
    "WithdrawalApproved": "approved",
    "WithdrawalExecuted": "executed",
    "WithdrawalCancelled": "cancelled",
    "WithdrawalVetoed": "vetoed",
    "WithdrawalRecalled": "recalled",
}


class ChainGateway(Protocol):
    def has_code(self, address: str) -> bool: ...
    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool: ...
    def account_of(self, address: str) -> int: ...
    def asset_count(self) -> int: ...
    def balance(self, account: int, asset: int) -> int: ...
    def asset_decimals(self, asset: int) -> int: ...
    def withdrawals(self, account: int) -> list[WithdrawalView]: ...
    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo: ...
    def withdrawal_view(self, withdrawal_id: int) -> WithdrawalView: ...
    def relay_withdrawal(self, req: WithdrawalRequest, signature: bytes) -> WithdrawalView: ...
    def block_number(self) -> int: ...
    def withdrawal_events(self, account: int, after_block: int) -> tuple[list[dict[str, Any]], int]: ...


class Web3Chain:
    """`ChainGateway` over a VaultClient; `relayer` pays gas for relayed withdrawal requests."""

    def __init__(self, vault: VaultClient, relayer: TxSender | None) -> None:
        self.vault = vault
        self.relayer = relayer
        self._send_lock = threading.Lock()  # one relayer account: one transaction at a time (nonces)
        self._decimals: dict[int, int] = {}  # listed tokens never change

    def has_code(self, address: str) -> bool:
        try:
            return len(self.vault.w3.eth.get_code(to_checksum_address(address))) > 0
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool:
        c = self.vault.w3.eth.contract(address=to_checksum_address(address), abi=_IERC1271_ABI)
        try:
            return bytes(c.functions.isValidSignature(digest, signature).call()) == EIP1271_MAGIC
        except (Web3Exception, ValueError):
            return False  # a revert or a non-conforming contract: not a valid signature
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def account_of(self, address: str) -> int:
        try:
            return self.vault.account_of(address)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def asset_count(self) -> int:
        try:
            return int(self.vault.contract.functions.assetCount().call())
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def balance(self, account: int, asset: int) -> int:
        try:
            return self.vault.balance(account, asset)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def asset_decimals(self, asset: int) -> int:
        if asset not in self._decimals:
            try:
                self._decimals[asset] = int(self.vault.token(asset).functions.decimals().call())
            except TRANSPORT_ERRORS as exc:
                raise chain_unavailable(str(exc)) from exc
        return self._decimals[asset]

    def withdrawals(self, account: int) -> list[WithdrawalView]:
        try:
            logs = self.vault.contract.events.WithdrawalRequested().get_logs(
                from_block=0, argument_filters={"account": account}
            )
            out = []
            for log in logs:
                info = self.vault.withdrawal(int(log["args"]["id"]))
                out.append(_view(info, "0x" + bytes(log["transactionHash"]).hex()))
            return out
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo:
        try:
            return self.vault.withdrawal(withdrawal_id)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def withdrawal_view(self, withdrawal_id: int) -> WithdrawalView:
        """The withdrawal with the hash of the transaction that requested it (its `WithdrawalRequested`
        event, found by its indexed id)."""
        try:
            info = self.vault.withdrawal(withdrawal_id)
            logs = self.vault.contract.events.WithdrawalRequested().get_logs(
                from_block=0, argument_filters={"id": withdrawal_id}
            )
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc
        tx = "0x" + bytes(logs[0]["transactionHash"]).hex() if logs else None
        return _view(info, tx)

    def block_number(self) -> int:
        try:
            return int(self.vault.w3.eth.block_number)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def withdrawal_events(self, account: int, after_block: int) -> tuple[list[dict[str, Any]], int]:
        """The account's withdrawal events (requested, then approved / executed / cancelled / vetoed /
        recalled) in blocks after `after_block` up to the tip, in chain order, and the tip. Read from the
        vault's own events: the ledger does not index withdrawals, the chain is their record."""
        try:
            tip = int(self.vault.w3.eth.block_number)
            if tip <= after_block:
                return [], after_block
            events = self.vault.contract.events
            found: list[tuple[int, int, dict[str, Any]]] = []
            requested = events.WithdrawalRequested().get_logs(
                from_block=after_block + 1, to_block=tip, argument_filters={"account": account}
            )
            for log in requested:
                a = log["args"]
                event = _withdrawal_event(log, "requested")
                event.update(
                    asset=int(a["asset"]), amount=str(int(a["amount"])), to=str(a["to"]), ready_at=int(a["readyAt"])
                )
                found.append((int(log["blockNumber"]), int(log["logIndex"]), event))
            owner: dict[int, int] = {}
            for name, status in WITHDRAWAL_LIFECYCLE.items():
                for log in getattr(events, name)().get_logs(from_block=after_block + 1, to_block=tip):
                    wid = int(log["args"]["id"])
                    if wid not in owner:  # only the id is indexed: the vault says whose it is
                        owner[wid] = self.vault.withdrawal(wid).account
                    if owner[wid] == account:
                        found.append((int(log["blockNumber"]), int(log["logIndex"]), _withdrawal_event(log, status)))
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc
        found.sort(key=lambda f: (f[0], f[1]))
        return [e for _, _, e in found], tip

    def relay_withdrawal(self, req: WithdrawalRequest, signature: bytes) -> WithdrawalView:
        if self.relayer is None:
            raise chain_unavailable("this API process has no relayer key")
        try:
            with self._send_lock:
                wid = self.vault.request_withdrawal_by_sig(self.relayer, req, signature)
            return self.withdrawal_view(wid)
        except RevertedError as exc:
            # 409: the request is well formed; the vault's state refuses it (a used nonce, a balance short
            # of the amount, a frozen account), and the custom error says which.
            raise ApiError(409, "vault_refused", str(exc)) from exc
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc


def _withdrawal_event(log: Any, status: str) -> dict[str, Any]:
    return {
        "type": "withdrawal",
        "id": int(log["args"]["id"]),
        "status": status,
        "block": int(log["blockNumber"]),
        "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
    }


def _view(info: WithdrawalInfo, tx_hash: str | None) -> WithdrawalView:
    return WithdrawalView(
        info.id, info.account, info.asset, info.amount, str(info.to), info.ready_at, info.status, tx_hash
    )


T = TypeVar("T")


class CircuitBreaker:
    """Counts transport failures in a row; after `failures` of them it is open for `open_s` seconds (calls
    are refused at once), then half-open: one trial call closes it on success or re-opens it on failure."""

    def __init__(self, failures: int, open_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._open_until: float | None = None
        self._trial = False

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._clock() < self._open_until else "half_open"

    def allow(self) -> float | None:
        """None when a call may go ahead; otherwise the seconds until the breaker lets one through."""
        with self._lock:
            if self._open_until is None:
                return None
            wait = self._open_until - self._clock()
            if wait > 0:
                return wait
            if self._trial:
                return self.open_s  # one trial at a time while half-open
            self._trial = True
            return None

    def success(self) -> None:
        with self._lock:
            self._in_a_row = 0
            self._open_until = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._in_a_row += 1
            self._trial = False
            if self._open_until is not None or self._in_a_row >= self.failures:
                self._open_until = self._clock() + self.open_s


class GuardedChain:
    """A `ChainGateway` in front of another one: at most `max_concurrent` calls at once (a caller waits at
    most `queue_s` for a slot), and a `CircuitBreaker` over transport failures (424 `chain_unavailable`),
    so a slow or dead RPC costs a bounded number of threads for a bounded time and then nothing."""

    def __init__(self, inner: ChainGateway, breaker: CircuitBreaker, max_concurrent: int, queue_s: float) -> None:
        self.inner = inner
        self.breaker = breaker
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._queue_s = queue_s

    def _open_error(self, wait: float) -> ApiError:
        return ApiError(
            424,
            "chain_unavailable",
            f"the RPC failed {self.breaker.failures} times in a row; retry in {wait:.0f} s",
            {"Retry-After": str(max(1, round(wait)))},
        )

    def _call(self, fn: Callable[[], T]) -> T:
        wait = self.breaker.allow()
        if wait is not None:
            raise self._open_error(wait)
        if not self._slots.acquire(timeout=self._queue_s):
            raise ApiError(
                424, "chain_unavailable", "every chain connection is busy; retry shortly", {"Retry-After": "1"}
            )
        if self.breaker.state == "open":
            # Asked again with the slot held: a caller that queued while the breaker was still closed
            # must not take the slot that the failure opening the breaker has just freed. (Only "open":
            # a half-open trial was granted by the first check and goes ahead.)
            self._slots.release()
            raise self._open_error(self.breaker.open_s)
        try:
            result = fn()
        except ApiError as exc:
            if exc.code == "chain_unavailable":
                self.breaker.failure()
            else:
                self.breaker.success()  # the chain answered (e.g. a revert): it is up
            raise
        finally:
            self._slots.release()
        self.breaker.success()
        return result

    def has_code(self, address: str) -> bool:
        return self._call(lambda: self.inner.has_code(address))

    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool:
        return self._call(lambda: self.inner.is_valid_signature(address, digest, signature))

    def account_of(self, address: str) -> int:
        return self._call(lambda: self.inner.account_of(address))

    def asset_count(self) -> int:
        return self._call(self.inner.asset_count)

    def balance(self, account: int, asset: int) -> int:
        return self._call(lambda: self.inner.balance(account, asset))

    def asset_decimals(self, asset: int) -> int:
        return self._call(lambda: self.inner.asset_decimals(asset))

    def withdrawals(self, account: int) -> list[WithdrawalView]:
        return self._call(lambda: self.inner.withdrawals(account))

    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo:
        return self._call(lambda: self.inner.withdrawal(withdrawal_id))

    def block_number(self) -> int:
        return self._call(self.inner.block_number)

    def withdrawal_events(self, account: int, after_block: int) -> tuple[list[dict[str, Any]], int]:
        return self._call(lambda: self.inner.withdrawal_events(account, after_block))

    def withdrawal_view(self, withdrawal_id: int) -> WithdrawalView:
        return self._call(lambda: self.inner.withdrawal_view(withdrawal_id))

    def relay_withdrawal(self, req: WithdrawalRequest, signature: bytes) -> WithdrawalView:
        return self._call(lambda: self.inner.relay_withdrawal(req, signature))
