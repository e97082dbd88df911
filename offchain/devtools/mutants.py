"""AST mutants of one Python module: the sites, a stable key for each, and the mutated code.

Operators (what a wrong number in money code usually looks like): arithmetic (`+`↔`-`, `*`↔`//`, …),
comparisons (`<`↔`<=`, `>`↔`>=`, `==`↔`!=`, `in`↔`not in`, `is`↔`is not`), integer constants ±1,
`True`↔`False`, `and`↔`or`, a dropped `not` or unary minus, a negated `if`/`while`/conditional/
comprehension test, and `min`↔`max`.

Not mutated, because a change there is not a change of behaviour worth a test: docstrings and other strings,
annotations, decorators, f-strings, and the arguments of `raise` (an error message; the condition that
raises is mutated).

A mutant's key is `function: \\`original\\` → \\`mutant\\`` (with ` #n` for the n-th identical one in the same
function), so it survives unrelated edits of the file: it names no line number.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SNIPPET_CHARS = 90

_BINOPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.BitXor: ast.BitOr,
}
_CMPOPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_NEGATING_CMPOPS = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)
_SWAP_CALLS = {"min": "max", "max": "min"}


@dataclass(frozen=True)
class Mutant:
    index: int  # position in the module's site order (changes with edits; the key does not)
    key: str  # "function: `original` → `mutant`" (+ " #n")
    function: str
    line: int
    end_line: int  # the mutated node spans line..end_line (which tests execute it decides which tests run)


@dataclass
class _Site:
    function: str
    line: int
    end_line: int
    shown: ast.AST  # the node whose source shows the mutation
    apply: Callable[[], ast.AST]  # mutates the tree in place; returns the node to show


def _snippet(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _set_child(parent: ast.AST, field: str, index: int | None, new: ast.AST) -> None:
    if index is None:
        setattr(parent, field, new)
    else:
        getattr(parent, field)[index] = new


class _Collector:
    """Walks a module in a fixed order and records every mutation site (with a closure that applies it)."""

    def __init__(self) -> None:
        self.sites: list[_Site] = []

    def collect(self, tree: ast.Module) -> list[_Site]:
        self._visit(tree, "<module>", None, "", None)
        return self.sites

    def _visit(self, node: ast.AST, func: str, parent: ast.AST | None, field: str, index: int | None) -> None:
        if self._skipped(node):
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            func = node.name if func == "<module>" else f"{func}.{node.name}"
        self._sites_at(node, func, parent, field, index)
        for child_field, value in ast.iter_fields(node):
            if child_field in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        self._visit(item, func, node, child_field, i)
            elif isinstance(value, ast.AST):
                self._visit(value, func, node, child_field, None)

    @staticmethod
    def _skipped(node: ast.AST) -> bool:
        if isinstance(node, ast.JoinedStr | ast.Raise):
            return True
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return True  # a docstring
        return (
            isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        )  # imports for the type checker only

    def _add(self, func: str, node: ast.AST, shown: ast.AST, apply: Callable[[], ast.AST]) -> None:
        line = getattr(node, "lineno", 0)
        self.sites.append(_Site(func, line, getattr(node, "end_lineno", None) or line, shown, apply))

    def _sites_at(self, node: ast.AST, func: str, parent: ast.AST | None, field: str, index: int | None) -> None:
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINOPS:
            target = node

            def swap_binop(n: ast.BinOp | ast.AugAssign = target) -> ast.AST:
                n.op = _BINOPS[type(n.op)]()
                return n

            self._add(func, node, node, swap_binop)
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMPOPS:

                    def swap_cmp(n: ast.Compare = node, i: int = i) -> ast.AST:
                        n.ops[i] = _CMPOPS[type(n.ops[i])]()
                        return n

                    self._add(func, node, node, swap_cmp)
        elif isinstance(node, ast.BoolOp):

            def swap_bool(n: ast.BoolOp = node) -> ast.AST:
                n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
                return n

            self._add(func, node, node, swap_bool)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub) and parent is not None:
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                pass  # a negative literal: its ±1 mutants cover it
            else:

                def drop_unary(
                    n: ast.UnaryOp = node, p: ast.AST = parent, f: str = field, i: int | None = index
                ) -> ast.AST:
                    _set_child(p, f, i, n.operand)
                    return n.operand

                self._add(func, node, node, drop_unary)
        elif isinstance(node, ast.Constant) and parent is not None:
            value = node.value
            if isinstance(value, bool):

                def flip(n: ast.Constant = node) -> ast.AST:
                    n.value = not n.value
                    return n

                self._add(func, node, node, flip)
            elif isinstance(value, int):
                for delta in (1, -1):

                    def shift(n: ast.Constant = node, d: int = delta, v: int = value) -> ast.AST:
                        n.value = v + d
                        return n

                    self._add(func, node, node, shift)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SWAP_CALLS:

            def swap_call(n: ast.Call = node) -> ast.AST:
                assert isinstance(n.func, ast.Name)
                n.func = ast.Name(id=_SWAP_CALLS[n.func.id], ctx=ast.Load())
                return n

            self._add(func, node, node, swap_call)
        self._condition_sites(node, func)

    def _condition_sites(self, node: ast.AST, func: str) -> None:
        tests: list[tuple[ast.AST, str, int | None]] = []
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            tests.append((node, "test", None))
        elif isinstance(node, ast.comprehension):
            tests.extend((node, "ifs", i) for i in range(len(node.ifs)))
        for owner, f, i in tests:
            test = getattr(owner, f) if i is None else getattr(owner, f)[i]
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                continue  # dropping that `not` is the same mutant
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], _NEGATING_CMPOPS):
                continue  # swapping that operator (`==`→`!=`, `is`→`is not`, `in`→`not in`) is the same mutant

            def negate(o: ast.AST = owner, f: str = f, i: int | None = i, t: ast.expr = test) -> ast.AST:
                negated = ast.UnaryOp(op=ast.Not(), operand=t)
                _set_child(o, f, i, negated)
                return negated

            self._add(func, test, test, negate)


def _sites(source: str) -> tuple[ast.Module, list[_Site]]:
    tree = ast.parse(source)
    return tree, _Collector().collect(tree)


def mutants(source: str) -> list[Mutant]:
    """Every mutant of `source`, in site order, each with its stable key."""
    _, sites = _sites(source)
    seen: Counter[str] = Counter()
    out: list[Mutant] = []
    for index, site in enumerate(sites):
        before = _snippet(site.shown)
        after = _mutated_snippet(source, index)
        base = f"{site.function}: `{before}` → `{after}`"
        seen[base] += 1
        key = base if seen[base] == 1 else f"{base} #{seen[base]}"
        out.append(Mutant(index, key, site.function, site.line, site.end_line))
    return out


def _mutated_snippet(source: str, index: int) -> str:
    """The mutated node's source (on a fresh tree: the closures mutate the tree they were collected from)."""
    _, sites = _sites(source)
    return _snippet(sites[index].apply())


def mutated_code(source: str, index: int, filename: str) -> object:
    """The module's code object with mutant `index` applied."""
    tree, sites = _sites(source)
    sites[index].apply()
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec")


def iter_keys(source: str) -> Iterator[str]:
    yield from (m.key for m in mutants(source))
