"""One error hierarchy: every exception crossclear defines derives from CrossclearError, and the one RPC
translator turns web3.py / transport failures into typed chain errors (codes first; text only where a node
gives nothing else)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import requests
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3RPCError

import offchain
from offchain.chain.errors import (
    AlreadyKnown,
    ChainError,
    NonceTooLow,
    ReceiptTimeoutError,
    RpcRejected,
    RpcUnavailable,
    TxNotFound,
    Underpriced,
    translate_rpc_error,
)
from offchain.errors import CrossclearError


def _modules() -> list[str]:
    skip = ("offchain.ledger.migrations",)  # alembic revision scripts: not importable as plain modules
    return [
        m.name
        for m in pkgutil.walk_packages(offchain.__path__, "offchain.")
        if not m.name.startswith(skip) and not m.name.endswith("__main__")
    ]


def test_every_crossclear_exception_derives_from_the_root() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException) and not issubclass(cls, CrossclearError):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []


def _rpc_error(code: int, message: str) -> Web3RPCError:
    return Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}})


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (-32003, "nonce too low", NonceTooLow),  # Anvil
        (-32000, "nonce too low: next nonce 5, tx nonce 4", NonceTooLow),  # geth
        (-32003, "transaction already imported", AlreadyKnown),  # Anvil
        (-32000, "already known", AlreadyKnown),  # geth
        (-32000, "replacement transaction underpriced", Underpriced),
        (-32602, "nonce too low", RpcRejected),  # invalid params: the code says it is not a rejected tx
        (-32000, "execution reverted", RpcRejected),
    ],
)
def test_rejections_are_typed_by_code_then_by_the_nodes_text(code: int, message: str, kind: type) -> None:
    err = translate_rpc_error(_rpc_error(code, message))
    assert type(err) is kind and isinstance(err, ChainError)
    assert isinstance(err, RpcRejected) and err.code == code and err.message == message


def test_transport_and_lookup_failures_are_typed() -> None:
    assert isinstance(translate_rpc_error(requests.ConnectionError("refused")), RpcUnavailable)
    assert isinstance(translate_rpc_error(requests.Timeout("slow")), RpcUnavailable)
    assert isinstance(translate_rpc_error(TransactionNotFound("no tx")), TxNotFound)
    assert isinstance(translate_rpc_error(TimeExhausted("late")), ReceiptTimeoutError)
    already = NonceTooLow(-32003, "nonce too low")
    assert translate_rpc_error(already) is already


def test_no_code_outside_the_translator_reads_an_rpc_message() -> None:
    """The engine branches on types: the only code that matches a node's text (`"…" in message`) is the
    translator."""
    import ast
    from pathlib import Path

    root = Path(offchain.__file__).parent
    needles = ("nonce", "already known", "underpriced", "imported")
    offenders = []
    for path in root.rglob("*.py"):
        if path == root / "chain" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Compare)
                and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
                and any(n in node.left.value.lower() for n in needles)
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
