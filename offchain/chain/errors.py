"""Turn the vault's custom-error revert data into readable exceptions."""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak


class ChainError(Exception):
    """Base of everything the chain layer raises."""


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
