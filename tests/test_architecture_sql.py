"""Only `offchain/ledger/` speaks SQL: the other packages receive typed snapshots from its stores and
views (`offchain.ledger.views`, `offchain.ledger.*_store`) and never build or run a statement.

The scan is syntactic (ast), per file: an import of SQLAlchemy or of the ledger's table definitions
(`offchain.ledger.schema`), a raw-SQL call (`exec_driver_sql`, `text(...)` is covered by the import
rule), or an `.execute(...)` call on a database handle. `.execute` is also the name of web3's batch
requests and of the timelock's `execute` function, so a call counts as SQL when its receiver is a
connection-like name (`conn`, `connection`, `cur`, `cursor`, `session`, `db`, `engine`, or a name
ending in `_conn`) or a call such as `x.connect()`/`x.begin()`/`x.execution_options()`, or when its
first argument is a string literal (raw SQL).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "offchain"
PACKAGES = ("api", "cli", "demo", "devnet", "app", "marketdata", "replay", "risk", "audit", "core", "devtools")
SQL_MODULES = ("sqlalchemy", "offchain.ledger.schema")
CONNECTION_NAMES = frozenset({"conn", "connection", "cur", "cursor", "session", "db", "engine"})
CONNECTION_CALLS = frozenset({"connect", "begin", "execution_options", "begin_nested"})


def _is_sql_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in SQL_MODULES)


def _connection_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CONNECTION_NAMES or node.id.endswith("_conn")
    if isinstance(node, ast.Attribute):
        return node.attr in CONNECTION_NAMES or node.attr.endswith("_conn")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in CONNECTION_CALLS
    return False


def sql_uses(source: str, filename: str = "<string>") -> list[str]:
    """Each SQL use in `source` as 'line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _is_sql_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if _is_sql_module(module):
                found.append(f"{node.lineno}: from {module} import ...")
            elif module == "offchain.ledger" and any(a.name == "schema" for a in node.names):
                found.append(f"{node.lineno}: from offchain.ledger import schema")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr == "exec_driver_sql":
                found.append(f"{node.lineno}: .exec_driver_sql(...)")
            elif attr == "execute":
                raw = bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                if raw or _connection_like(node.func.value):
                    found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_speaks_no_sql(package: str) -> None:
    assert (ROOT / package).is_dir(), f"offchain/{package} is gone: update PACKAGES"
    offenders = {
        str(path.relative_to(ROOT.parent)): uses
        for path in _files(package)
        if (uses := sql_uses(path.read_text(), str(path)))
    }
    assert offenders == {}, f"SQL outside offchain/ledger/ (move it into a ledger store or view): {offenders}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sqlalchemy import select\n", ["1: from sqlalchemy import ..."]),
        ("import sqlalchemy.exc\n", ["1: import sqlalchemy.exc"]),
        ("from offchain.ledger import schema as t\n", ["1: from offchain.ledger import schema"]),
        ("from offchain.ledger.schema import fills\n", ["1: from offchain.ledger.schema import ..."]),
        ("conn.execute(q)\n", ["1: conn.execute(...)"]),
        ("self.db_conn.execute(q)\n", ["1: self.db_conn.execute(...)"]),
        ("engine.connect().execute(q)\n", ["1: engine.connect().execute(...)"]),
        ("anything.execute('SELECT 1')\n", ["1: anything.execute(...)"]),
        ("c.exec_driver_sql('SELECT 1')\n", ["1: .exec_driver_sql(...)"]),
        # not SQL: web3 batch requests and the timelock's execute function
        ("batch.execute()\n", []),
        ("f.execute(op.target, op.value)\n", []),
        ("from offchain.ledger.views import fills\n", []),
        ("from offchain.ledger.handles import Connection\n", []),
    ],
)
def test_scan_finds_sql_and_only_sql(source: str, expected: list[str]) -> None:
    assert sql_uses(source) == expected
