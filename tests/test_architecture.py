"""The package rules of issue 12 (design.md: "one place for SQL"), read from the source with `ast`:

(a) only `offchain/ledger/` speaks SQL: no other package imports SQLAlchemy (the ledger's `handles`
    re-export the Engine and Connection types) or `offchain.ledger.schema`, or runs a statement
    (`.execute(...)` on a connection-like receiver or with a raw SQL string, `.exec_driver_sql`,
    `.executemany`, `.scalar(s)`). `.execute` is also web3's batch request and the timelock's function, so
    it counts only on a connection (`conn`, `connection`, `cur`, `cursor`, `session`, `db`, `engine`, a
    name ending in `_conn`, or `x.connect()` / `x.begin()`) or with a string first argument.
(b) the offchain packages import each other as a DAG. `CYCLE_EXCEPTIONS` names the import edges still
    allowed to close a cycle, each with the reason and who removes it; an exception that no longer exists
    in the code fails too, so the list only shrinks.
(c) no re-export shims: a module whose body is only imports (and `__all__`) is a forwarding address left
    behind by a move; its importers import from the real module instead. Package `__init__`s that name a
    package's public face are allowed by name in `REEXPORT_ALLOWED`, with the ledger's `handles`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFCHAIN = ROOT / "offchain"

SQL_FREE_PACKAGES = tuple(
    sorted(p.name for p in OFFCHAIN.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "ledger")
)
# Files of those packages still allowed to speak SQL, and why (none left).
SQL_EXCEPTIONS: dict[str, str] = {}

# (importer, imported) package edges allowed to close a cycle, and why. settlement <-> defaults is not
# among them: defaults never imports settlement (the builder passes defaults what it needs). None left: keys and
# the settings base live in config/, price-file reading in marketdata/files.py, publication in
# ledger/publication.py.
CYCLE_EXCEPTIONS: dict[tuple[str, str], str] = {}

EXECUTING_METHODS = {"executemany", "exec_driver_sql", "scalar", "scalars"}  # SQL whatever the receiver
CONNECTION_NAMES = frozenset({"conn", "connection", "cur", "cursor", "session", "db", "engine"})
CONNECTION_CALLS = frozenset({"connect", "begin", "execution_options", "begin_nested"})


def _connection_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CONNECTION_NAMES or node.id.endswith("_conn")
    if isinstance(node, ast.Attribute):
        return node.attr in CONNECTION_NAMES or node.attr.endswith("_conn")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in CONNECTION_CALLS
    return False


def _runs_sql(node: ast.Call) -> bool:
    if not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr in EXECUTING_METHODS:
        return True
    raw = bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    return node.func.attr == "execute" and (_connection_like(node.func.value) or raw)


def _python_files(package: str) -> Iterator[Path]:
    yield from sorted((OFFCHAIN / package).rglob("*.py"))


def _imported_modules(tree: ast.AST, module: str) -> Iterator[tuple[str, list[str], int]]:
    """(module, names imported from it, line) of every import in `tree`, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, [a.name for a in node.names], node.lineno


def sql_in(source: str, module: str) -> list[str]:
    """Where `source` (the text of `module`) speaks SQL: one line per finding."""
    tree = ast.parse(source)
    found: list[str] = []
    for name, names, line in _imported_modules(tree, module):
        if name == "sqlalchemy" and not names:
            found.append(f"{line}: import sqlalchemy")
        elif name.startswith("sqlalchemy"):
            found.extend(f"{line}: from {name} import {n}" for n in names)
        if name == "offchain.ledger.schema" or (name == "offchain.ledger" and "schema" in names):
            found.append(f"{line}: imports offchain.ledger.schema")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _runs_sql(node):
            assert isinstance(node.func, ast.Attribute)
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
    return found


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", SQL_FREE_PACKAGES)
def test_no_sql_outside_the_ledger(package: str) -> None:
    offences: list[str] = []
    for path in _python_files(package):
        rel = path.relative_to(ROOT).as_posix()
        if rel in SQL_EXCEPTIONS:
            continue
        offences.extend(f"{rel}:{f}" for f in sql_in(path.read_text(), _module_of(path)))
    assert not offences, "SQL outside offchain/ledger/:\n" + "\n".join(offences)


def test_no_sql_in_top_level_modules_or_scripts() -> None:
    """The rule holds beyond the packages: `offchain/*.py` and the scripts (benchmarks seed and read the
    ledger through its functions too, so a schema change cannot leave them reading a stale shape)."""
    paths = sorted([*OFFCHAIN.glob("*.py"), *(ROOT / "scripts").glob("*.py")])
    assert any(p.parent.name == "scripts" for p in paths)
    offences: list[str] = []
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        offences.extend(f"{rel}:{f}" for f in sql_in(path.read_text(), _module_of(path)))
    assert not offences, "SQL outside offchain/ledger/:\n" + "\n".join(offences)


def test_the_sql_check_finds_sql() -> None:
    """The check is not vacuous: it finds each kind of SQL, and finds it in the ledger's own stores."""
    sample = (
        "from sqlalchemy import Connection, select, text\n"
        "from offchain.ledger import schema as t\n"
        "def f(conn: Connection) -> None:\n"
        "    conn.execute(text('select 1'))\n"
    )
    assert sql_in(sample, "offchain.x.y") == [
        "1: from sqlalchemy import Connection",
        "1: from sqlalchemy import select",
        "1: from sqlalchemy import text",
        "2: imports offchain.ledger.schema",
        "4: .execute(...)",
    ]
    # Not SQL: the ledger's re-exported types, web3's batch request, the timelock's execute.
    assert sql_in("from offchain.ledger.handles import Connection, Engine\n", "offchain.x.y") == []
    assert sql_in("def f(batch, gov, w3):\n    batch.execute()\n    gov.execute(1, 2)\n", "offchain.x.y") == []
    # SQL however it is spelled: raw text on any receiver, a statement on a connection or a begin().
    raw = "def f(x, engine):\n    x.execute('DELETE FROM fills')\n    engine.begin().execute(q)\n    y.executemany(q)\n"
    assert sql_in(raw, "offchain.x.y") == ["2: .execute(...)", "3: .execute(...)", "4: .executemany(...)"]
    assert sql_in((OFFCHAIN / "ledger" / "batches.py").read_text(), "offchain.ledger.batches")


def test_sql_exceptions_are_still_needed() -> None:
    for rel, why in SQL_EXCEPTIONS.items():
        path = ROOT / rel
        assert path.exists() and sql_in(path.read_text(), _module_of(path)), f"stale exception {rel} ({why})"


def package_graph() -> dict[str, set[str]]:
    """offchain package -> the offchain packages it imports (anywhere in its files)."""
    packages = sorted(p.name for p in OFFCHAIN.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    graph: dict[str, set[str]] = {p: set() for p in packages}
    for package in packages:
        for path in _python_files(package):
            for name, names, _line in _imported_modules(ast.parse(path.read_text()), _module_of(path)):
                parts = name.split(".")
                targets = [parts[1]] if len(parts) > 1 else names if parts == ["offchain"] else []
                if parts[0] != "offchain":
                    continue
                graph[package].update(x for x in targets if x in graph and x != package)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_packages_import_each_other_as_a_dag() -> None:
    graph = package_graph()
    for src, dst in CYCLE_EXCEPTIONS:
        graph[src].discard(dst)
    assert cycles(graph) == [], "import cycles between offchain packages"


def test_settlement_and_defaults_do_not_import_each_other_both_ways() -> None:
    graph = package_graph()
    assert "settlement" not in graph["defaults"]
    assert not {("settlement", "defaults"), ("defaults", "settlement")} & CYCLE_EXCEPTIONS.keys()


def test_cycle_exceptions_are_still_needed() -> None:
    graph = package_graph()
    for (src, dst), why in CYCLE_EXCEPTIONS.items():
        assert dst in graph[src], f"stale exception {src} -> {dst} ({why}): remove it from CYCLE_EXCEPTIONS"


def test_the_cycle_check_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# Modules whose body is only imports and `__all__`, allowed by name: package `__init__`s that give the
# package's public face, and the ledger's handles (SQLAlchemy's types for packages that may not import it).
REEXPORT_ALLOWED = {
    "offchain/api/__init__.py": "the API's public face (create_app, ApiSettings)",
    "offchain/audit/__init__.py": "the auditor's public face",
    "offchain/client/__init__.py": "the venue client's public face",
    "offchain/ingest/__init__.py": "the ingest service's public face",
    "offchain/marketdata/__init__.py": "the index rule and observation type",
    "offchain/risk/__init__.py": "the risk engine's public face",
    "offchain/ledger/handles.py": "SQLAlchemy's Engine/Connection/IntegrityError for code that may not import"
    " SQLAlchemy (rule (a))",
}


def only_reexports(source: str) -> bool:
    """Whether `source`'s body, past its docstring, is only imports and an `__all__` (and is not empty)."""
    body = [n for n in ast.parse(source).body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]

    def forwarding(node: ast.stmt) -> bool:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return True
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        return bool(targets) and all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)

    return bool(body) and all(forwarding(n) for n in body)


def test_no_module_only_reexports() -> None:
    shims = [
        rel
        for path in sorted(OFFCHAIN.rglob("*.py"))
        if (rel := path.relative_to(ROOT).as_posix()) not in REEXPORT_ALLOWED and only_reexports(path.read_text())
    ]
    assert not shims, "modules that only re-export (import from the real module and delete them):\n" + "\n".join(shims)


def test_reexport_allowances_are_still_needed() -> None:
    for rel, why in REEXPORT_ALLOWED.items():
        path = ROOT / rel
        assert path.exists() and only_reexports(path.read_text()), f"stale allowance {rel} ({why})"
        assert path.name == "__init__.py" or rel == "offchain/ledger/handles.py", f"{rel}: only __init__s ({why})"


def test_the_reexport_check_finds_shims() -> None:
    shim = '"""Moved."""\nfrom __future__ import annotations\nfrom offchain.x import y\n\n__all__ = ["y"]\n'
    assert only_reexports(shim)
    assert only_reexports("import offchain.x\n__all__: list[str] = []\n")
    # Not shims: an empty package marker, a module that imports and also defines something.
    assert not only_reexports('"""A package."""\n')
    assert not only_reexports("from offchain.x import y\n\nZ = y + 1\n")
    assert not only_reexports("from offchain.x import y\n\ndef f() -> int:\n    return y\n")
