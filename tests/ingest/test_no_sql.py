"""Ingest holds no SQL: its queries live in offchain/ledger/ (fills_store, registry_store, atomic). An AST
scan of every module of offchain/ingest/ for `.execute(` / `.exec_driver_sql(` calls and for imports of
SQLAlchemy or the ledger schema outside `if TYPE_CHECKING:` (type names only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INGEST = Path(__file__).resolve().parents[2] / "offchain" / "ingest"
SQL_CALLS = frozenset({"execute", "exec_driver_sql", "executemany", "scalar", "scalars"})
SQL_MODULES = ("sqlalchemy", "offchain.ledger.schema")


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    typing_only = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"{path.name}:{node.lineno} calls .{node.func.attr}(")
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                modules = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            hits = [m for m in modules if any(m == s or m.startswith(s + ".") for s in SQL_MODULES)]
            if hits:
                found.append(f"{path.name}:{node.lineno} imports {min(hits, key=len)}")
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in INGEST.glob("*.py")))
def test_no_sql_in_ingest(module: str) -> None:
    assert _offences(INGEST / module) == []


def test_the_scan_finds_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy import select\nfrom offchain.ledger import schema\n\ndef f(c):\n    c.execute(1)\n")
    assert _offences(bad) == [
        "bad.py:1 imports sqlalchemy",
        "bad.py:2 imports offchain.ledger.schema",
        "bad.py:5 calls .execute(",
    ]
