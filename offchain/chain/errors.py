"""The chain layer's errors, and the one place that turns web3.py / JSON-RPC failures into them.

`translate_rpc_error` is the only code in crossclear that inspects what a node answered: it branches on
exception types and JSON-RPC error codes, and reads the message only where nodes give nothing else (a
rejected transaction is code -32000 on geth and -32003 on Anvil for every reason: nonce too low, already
known, underpriced). Everything above it branches on the types below. Contract reverts are decoded from
their custom-error data (`ErrorDecoder`), never from text.
"""

from __future__ import annotations

from typing import Any

import requests
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3RPCError

from offchain.errors import CrossclearError


class ChainError(CrossclearError):
    """Base of everything the chain layer raises."""


class RpcUnavailable(ChainError):  # noqa: N818 - a condition the caller retries, named as such
    """The node did not answer (connection refused or dropped, timeout): retry with backoff."""


class RpcRejected(ChainError):  # noqa: N818 - the node rejected the request
    """The node answered with a JSON-RPC error; `code` and `message` are the node's."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message


class NonceTooLow(RpcRejected):
    """Another transaction of the sender took this nonce: sign again with a fresh one."""


class AlreadyKnown(RpcRejected):
    """The node already holds this very transaction: wait for it."""


class Underpriced(RpcRejected):
    """A pending transaction holds the nonce with a fee this one does not beat: bump the fee."""


class TxNotFound(ChainError):  # noqa: N818 - named after the node's answer
    """The node does not know the transaction (never broadcast, dropped, or reorganised away)."""


class ReceiptTimeoutError(ChainError):
    """The transaction was not included within the wait."""


class TransactionFailedError(ChainError):
    """A transaction was included with status 0 (it reverted on inclusion)."""


class ChainClockError(ChainError):
    """The chain's clock and the wall clock disagree beyond the engine's bound."""


# Codes under which nodes report a rejected transaction (EIP-1474: -32003; geth: -32000).
_TX_REJECTED_CODES = {-32000, -32003, -32010}
# Nodes give only text for why a transaction was rejected; these are the only message checks in crossclear.
_REJECTIONS: tuple[tuple[tuple[str, ...], type[RpcRejected]], ...] = (
    (("nonce too low", "nonce is too low"), NonceTooLow),
    (("already known", "already imported", "known transaction"), AlreadyKnown),
    (("underpriced", "fee too low"), Underpriced),
)


def translate_rpc_error(exc: BaseException) -> ChainError:
    """The crossclear error for a failure of web3.py or of the transport under it."""
    if isinstance(exc, ChainError):
        return exc
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return RpcUnavailable(f"node unavailable: {exc}")
    if isinstance(exc, TransactionNotFound):
        return TxNotFound(str(exc))
    if isinstance(exc, TimeExhausted):
        return ReceiptTimeoutError(str(exc))
    if isinstance(exc, Web3RPCError):
        error: Any = (exc.rpc_response or {}).get("error") or {}
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message", exc)) if isinstance(error, dict) else str(exc)
        if code in _TX_REJECTED_CODES:
            lowered = message.lower()
            for needles, kind in _REJECTIONS:
                if any(n in lowered for n in needles):
                    return kind(code, message)
        return RpcRejected(code if isinstance(code, int) else None, message)
    return ChainError(f"{type(exc).__name__}: {exc}")


# What translate_rpc_error accepts: the transport's and web3.py's failures (never a bare Exception).
RPC_FAILURES: tuple[type[BaseException], ...] = (
    requests.RequestException,
    ConnectionError,
    TimeoutError,
    TransactionNotFound,
    TimeExhausted,
    Web3RPCError,
)


class RevertedError(ChainError):
    """A call or transaction reverted; `error` is the custom error's name when the ABI knows it."""

    def __init__(self, error: str, args: tuple[Any, ...], raw: bytes) -> None:
        super().__init__(error, *args)
        self.error = error
        self.args = args
        self.raw = raw

    def __str__(self) -> str:
        shown = ", ".join(_show(a) for a in self.args)
        return f"{self.error}({shown})"


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(_type(i) for i in item['inputs'])})"


def _type(inp: dict[str, Any]) -> str:
    t = str(inp["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in inp["components"]) + ")" + t[len("tuple") :]
    return t


class ErrorDecoder:
    """Maps 4-byte selectors of an ABI's custom errors to names and argument types."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for item in abi:
            if item.get("type") == "error":
                sig = _signature(item)
                self._errors[keccak(text=sig)[:4]] = (item["name"], [_type(i) for i in item["inputs"]])
        # Solidity's built-in Error(string) and Panic(uint256).
        self._errors[keccak(text="Error(string)")[:4]] = ("Error", ["string"])
        self._errors[keccak(text="Panic(uint256)")[:4]] = ("Panic", ["uint256"])

    def decode(self, data: bytes) -> RevertedError:
        if len(data) < 4 or data[:4] not in self._errors:
            return RevertedError("UnknownRevert", (), data)
        name, types = self._errors[data[:4]]
        try:
            args = tuple(decode(types, data[4:]))
        except (DecodingError, ValueError):  # malformed payload: keep the raw bytes, still name the error
            args = ()
        return RevertedError(name, args, data)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by a web3.py exception, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    return None
