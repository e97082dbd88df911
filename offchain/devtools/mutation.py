"""Mutation testing: run a module's fast tests against each of its AST mutants and score how many they kill.

Each mutant runs in a forked child of a parent that has already imported the heavy third-party packages
(pytest, numpy, web3, …), so a mutant costs a test run, not an interpreter start. The child forgets every
project module, installs an import hook that serves the mutated code for the module under test, and runs
pytest with `-x` on the module's configured tests. A non-zero exit (a failure, or a collection error because
the mutant breaks the import) or a timeout kills the mutant; exit 0 lets it survive.

Configuration (TOML, `scripts/mutation.toml`): per module its fast tests and its equivalent mutants (by key,
each with a reason). Recorded scores (JSON, beside it): per module the score and the hash of what it was
measured on (the module, its tests, its equivalents and this tool's operators), so a fresh clone can tell a
touched module (hash differs) from an untouched one without any history.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType, ModuleType
from typing import Any

from offchain.devtools.mutants import Mutant, mutants, mutated_code
from offchain.errors import CrossclearError

# Bump when the operators change: every recorded hash then differs and every module is re-measured.
OPERATORS_VERSION = "1"  # (the tracer follows threads since this version's first record)
POLL_S = 0.01


class MutationConfigError(CrossclearError, ValueError):
    """The configuration names a module, a test file or an equivalent that does not exist."""


@dataclass(frozen=True)
class Equivalent:
    key: str
    reason: str


@dataclass(frozen=True)
class ModuleConfig:
    name: str  # dotted, e.g. offchain.defaults.calls
    path: Path
    tests: tuple[Path, ...]
    equivalents: tuple[Equivalent, ...]
    target: float  # the score the module must reach when measured in full (a floor for --check, too)
    markers: str | None = None  # this module's pytest -m expression, instead of the settings' one

    def content_hash(self) -> str:
        h = hashlib.sha256(f"operators {OPERATORS_VERSION}\n".encode())
        for p in (self.path, *self.tests):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
        for e in sorted(self.equivalents, key=lambda e: e.key):
            h.update(e.key.encode() + b"\0")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Config:
    root: Path
    scores_path: Path
    warm: tuple[str, ...]  # imported once in the parent
    forget: tuple[str, ...]  # package prefixes each child re-imports (the project's own code)
    pytest_args: tuple[str, ...]
    markers: str  # pytest -m expression for every run ("" for none)
    modules: dict[str, ModuleConfig]

    @staticmethod
    def load(path: Path, root: Path | None = None) -> Config:
        raw = tomllib.loads(path.read_text())
        base = (root or path.parent).resolve()
        settings = raw.get("settings", {})
        modules: dict[str, ModuleConfig] = {}
        for name, m in raw.get("modules", {}).items():
            mod_path = base / Path(*name.split(".")).with_suffix(".py")
            if not mod_path.is_file():
                raise MutationConfigError(f"module {name}: no file {mod_path}")
            tests = tuple(base / t for t in m.get("tests", []))
            missing = [str(t) for t in tests if not t.is_file()]
            if not tests or missing:
                raise MutationConfigError(f"module {name}: needs existing test files (missing: {missing})")
            equivalents = tuple(Equivalent(e["key"], e["reason"]) for e in m.get("equivalent", []))
            if any(not e.reason.strip() for e in equivalents):
                raise MutationConfigError(f"module {name}: every equivalent mutant needs a reason")
            markers = m.get("markers")
            modules[name] = ModuleConfig(
                name,
                mod_path,
                tests,
                equivalents,
                float(m.get("target", 0.9)),
                None if markers is None else str(markers),
            )
        return Config(
            root=base,
            scores_path=path.parent / settings.get("scores", path.stem + "_scores.json"),
            warm=tuple(settings.get("warm", ["pytest"])),
            forget=tuple(settings.get("forget", [])),
            pytest_args=tuple(settings.get("pytest_args", [])),
            markers=str(settings.get("markers", "")),
            modules=modules,
        )

    def recorded(self) -> dict[str, Any]:
        if not self.scores_path.is_file():
            return {}
        data: dict[str, Any] = json.loads(self.scores_path.read_text())
        return data


# ---------------------------------------------------------------- the child: one test run of one mutant


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `code` for module `name` (and nothing else) ahead of the normal path finders."""

    def __init__(self, name: str, path: Path, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


class _Coverage:
    """Which lines of one file each test executes (a line tracer limited to that file's frames), and which
    run outside any test (at import). A mutant then runs only the tests that execute its lines."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current = ""  # "" while no test runs (collection, imports)
        self.lines: dict[str, set[int]] = {}
        self.durations: dict[str, float] = {}  # test node id -> seconds (setup + call + teardown)

    def trace(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != self.filename:
            return None
        self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._line

    def _line(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._line

    def pytest_runtest_setup(self, item: Any) -> None:
        self.current = item.nodeid

    def pytest_runtest_teardown(self, item: Any) -> None:
        self.current = item.nodeid

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.current = ""

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration)


def _child(
    cfg: Config, module: ModuleConfig, code: CodeType, tests: Sequence[str], log: Path | None, coverage: Path | None
) -> int:
    import pytest
    from hypothesis import settings

    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in cfg.forget):
            del sys.modules[name]
    sys.meta_path.insert(0, _MutantFinder(module.name, module.path, code))
    # Same examples every run (a score must not move with the random seed), no example database shared
    # between mutants, and no deadline (the machine is shared; a slow run is not a failure).
    settings.register_profile("mutation", derandomize=True, database=None, deadline=None, print_blob=False)
    settings.load_profile("mutation")
    fd = os.open(log if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    args = [*tests, "-x", "-q", "--no-header", "-p", "no:cacheprovider", *cfg.pytest_args]
    markers = cfg.markers if module.markers is None else module.markers
    if markers:
        args += ["-m", markers]
    if coverage is None:
        return int(pytest.main(args))
    tracer = _Coverage(str(module.path))
    sys.settrace(tracer.trace)
    threading.settrace(tracer.trace)  # lines run on worker threads (a thread pool in the module) count too
    try:
        rc = int(pytest.main(args, plugins=[tracer]))
    finally:
        threading.settrace(None)
        sys.settrace(None)
    lines = {k: sorted(v) for k, v in tracer.lines.items()}
    coverage.write_text(json.dumps({"lines": lines, "durations": tracer.durations}))
    return rc


def _fork(
    cfg: Config,
    module: ModuleConfig,
    code: CodeType,
    tests: Sequence[str],
    log: Path | None = None,
    coverage: Path | None = None,
) -> int:
    pid = os.fork()
    if pid == 0:  # the child never returns into the parent's code
        rc = 3
        try:
            os.setpgid(0, 0)  # its own group, so a timeout ends whatever it started too
            rc = _child(cfg, module, code, tests, log, coverage)
        finally:
            os._exit(rc)
    return pid


# ---------------------------------------------------------------- the parent: scheduling and scoring


@dataclass
class ModuleResult:
    name: str
    hash: str
    total: int = 0
    killed: int = 0
    timeouts: int = 0  # counted in killed
    survived: list[str] = field(default_factory=list)  # keys
    equivalent: list[str] = field(default_factory=list)  # keys (not run)
    equivalent_killed: list[str] = field(default_factory=list)  # marked equivalent but a test kills it
    stale_equivalents: list[str] = field(default_factory=list)  # configured keys no mutant has
    errors: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)  # survivors that no test even executes
    lines: dict[str, int] = field(default_factory=dict)  # key -> line, for the report
    killed_keys: list[str] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0

    @property
    def score(self) -> float:
        counted = self.killed + len(self.survived)
        return self.killed / counted if counted else 1.0

    def as_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "total": self.total,
            "killed": self.killed,
            "timeouts": self.timeouts,
            "survived": len(self.survived),
            "equivalent": len(self.equivalent),
            "score": round(self.score, 4),
            "complete": self.complete,
            "seconds": round(self.seconds, 1),
            "survivors": [
                {"key": k, "line": self.lines.get(k, 0), "executed": k not in self.uncovered} for k in self.survived
            ],
            "equivalent_killed": self.equivalent_killed,
            "stale_equivalents": self.stale_equivalents,
            "errors": self.errors,
        }


@dataclass
class _Running:
    pid: int
    module: str
    key: str
    started: float
    timeout: float


def warm_up(cfg: Config) -> None:
    """Import the heavy packages once in the parent, and make the project importable from its root."""
    if str(cfg.root) not in sys.path:
        sys.path.insert(0, str(cfg.root))
    os.chdir(cfg.root)
    for name in cfg.warm:
        importlib.import_module(name)
    loaded = [n for n in sys.modules if any(n == p or n.startswith(p + ".") for p in cfg.forget)]
    for name in loaded:  # the parent never keeps project code: children import it fresh (and mutated)
        del sys.modules[name]


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(POLL_S)
    _kill(pid)
    return None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own meanwhile
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@dataclass(frozen=True)
class Baseline:
    seconds: float
    at_import: frozenset[int]  # lines executed outside any test: a mutant there runs every test
    by_test: dict[str, frozenset[int]]  # test node id -> lines it executes, in run order
    durations: dict[str, float]  # test node id -> seconds

    def timeout_for(self, selected: list[str] | None) -> float:
        """Three times what the selected tests took unmutated, plus the start-up: a mutant past that loops."""
        tests = sum(self.durations.values())
        startup = max(self.seconds - tests, 0.0)
        chosen = tests if selected is None else sum(self.durations.get(t, 0.0) for t in selected)
        return 3 * (startup + chosen) + 5

    def tests_for(self, m: Mutant) -> list[str] | None:
        """The tests that execute the mutant's lines ([] when none does), or None for all of them."""
        lines = set(range(m.line, m.end_line + 1))
        if lines & self.at_import:
            return None
        return [t for t, covered in self.by_test.items() if lines & covered]


def baseline(cfg: Config, module: ModuleConfig, tests: Sequence[str]) -> Baseline:
    """Run the unmutated tests (they must pass, or no mutant result would mean anything), timed and traced."""
    code = compile(module.path.read_text(), str(module.path), "exec")
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        log, cov = Path(tmp) / "baseline.log", Path(tmp) / "coverage.json"
        started = time.monotonic()
        rc = _wait(_fork(cfg, module, code, tests, log, cov), 900)
        seconds = time.monotonic() - started
        if rc != 0:
            tail = log.read_text()[-3000:] if log.is_file() else ""
            raise MutationConfigError(f"{module.name}: its tests fail without any mutant (exit {rc}):\n{tail}")
        raw: dict[str, Any] = json.loads(cov.read_text())
    lines: dict[str, list[int]] = raw["lines"]
    return Baseline(
        seconds,
        frozenset(lines.pop("", [])),
        {k: frozenset(v) for k, v in lines.items()},
        {k: float(v) for k, v in raw["durations"].items()},
    )


def run_modules(
    cfg: Config,
    names: Sequence[str],
    jobs: int = 2,
    budget_s: float | None = None,
    tests_override: Sequence[Path] | None = None,
    function: str | None = None,
    progress: bool = False,
    verify_equivalents: bool = False,
) -> dict[str, ModuleResult]:
    """Measure each named module; within `budget_s` seconds in all (modules not finished are incomplete)."""
    warm_up(cfg)
    started = time.monotonic()
    results: dict[str, ModuleResult] = {}
    for name in names:
        module = cfg.modules[name]
        result = ModuleResult(name, module.content_hash())
        results[name] = result
        remaining = None if budget_s is None else budget_s - (time.monotonic() - started)
        if remaining is not None and remaining <= 0:
            result.complete = False
            continue
        _run_module(cfg, module, result, jobs, remaining, tests_override, function, progress, verify_equivalents)
    return results


def _run_module(
    cfg: Config,
    module: ModuleConfig,
    result: ModuleResult,
    jobs: int,
    budget_s: float | None,
    tests_override: Sequence[Path] | None,
    function: str | None,
    progress: bool,
    verify_equivalents: bool,
) -> None:
    t0 = time.monotonic()
    tests = [str(t) for t in (tests_override or module.tests)]
    source = module.path.read_text()
    all_mutants = [m for m in mutants(source) if function is None or m.function == function]
    result.total = len(all_mutants)
    result.lines = {m.key: m.line for m in all_mutants}
    keys = {m.key for m in all_mutants}
    marked = {e.key for e in module.equivalents}
    result.stale_equivalents = sorted(marked - keys) if function is None else []
    base = baseline(cfg, module, tests)
    # Equivalent mutants are not run unless asked (each would run every selected test to the end): with
    # `verify_equivalents`, one that a test kills is reported as not equivalent after all.
    queue: list[Mutant] = []
    for m in all_mutants:
        if m.key in marked and not verify_equivalents:
            result.equivalent.append(m.key)
        else:
            queue.append(m)
    running: list[_Running] = []
    deadline = None if budget_s is None else t0 + budget_s
    done = 0
    while queue or running:
        while queue and len(running) < jobs and (deadline is None or time.monotonic() < deadline):
            m = queue.pop(0)
            selected = base.tests_for(m)
            if selected == []:  # no test executes it: it survives without a run
                result.uncovered.append(m.key)
                _score(result, m.key, 0, marked)
                done += 1
                continue
            code = mutated_code(source, m.index, str(module.path))
            assert isinstance(code, CodeType)
            pid = _fork(cfg, module, code, tests if selected is None else selected)
            running.append(_Running(pid, module.name, m.key, time.monotonic(), base.timeout_for(selected)))
        if queue and deadline is not None and time.monotonic() >= deadline and not running:
            result.complete = False
            break
        for r in list(running):
            finished, status = os.waitpid(r.pid, os.WNOHANG)
            if finished:
                running.remove(r)
                _score(result, r.key, os.waitstatus_to_exitcode(status), marked)
            elif time.monotonic() - r.started > r.timeout:
                _kill(r.pid)
                running.remove(r)
                result.timeouts += 1
                _score(result, r.key, 1, marked)
            else:
                continue
            done += 1
            if progress:
                print(f"\r{module.name}: {done}/{result.total}", end="", file=sys.stderr, flush=True)
        time.sleep(POLL_S)
    if progress:
        print(file=sys.stderr)
    result.seconds = time.monotonic() - t0


def _score(result: ModuleResult, key: str, rc: int, marked: set[str]) -> None:
    # A failing test, a collection error, or a conftest that no longer imports (pytest's "usage error"):
    # the unmutated run passed, so the mutant broke it.
    killed = rc in (1, 2, 4)
    if rc not in (0, 1, 2, 4):
        result.errors.append(f"{key}: pytest exit {rc}")
    if key in marked:
        result.equivalent.append(key)
        if killed:
            result.equivalent_killed.append(key)
        return
    if killed:
        result.killed += 1
        result.killed_keys.append(key)
    elif rc == 0:
        result.survived.append(key)


# ---------------------------------------------------------------- reports and the CI rule


def touched(cfg: Config) -> list[str]:
    """Modules whose content hash differs from the recorded one (or that have no recorded score)."""
    recorded = cfg.recorded()
    return [n for n, m in cfg.modules.items() if recorded.get(n, {}).get("hash") != m.content_hash()]


def check(cfg: Config, results: dict[str, ModuleResult]) -> list[str]:
    """The CI rule: every measured module complete, at or above its recorded score and its target."""
    recorded = cfg.recorded()
    problems = []
    for name, r in results.items():
        if not r.complete:
            problems.append(f"{name}: not measured in full within the budget")
            continue
        before = recorded.get(name, {}).get("score")
        floor = max(before if before is not None else 0.0, cfg.modules[name].target)
        if round(r.score, 4) < round(floor, 4):
            problems.append(f"{name}: score {r.score:.2%} is below {floor:.2%} (survivors: {len(r.survived)})")
        if r.errors:
            problems.append(f"{name}: {len(r.errors)} mutant runs ended with a pytest error")
    return problems


def record(cfg: Config, results: dict[str, ModuleResult]) -> None:
    data = cfg.recorded()
    for name, r in results.items():
        if r.complete:
            data[name] = {
                "hash": r.hash,
                "score": round(r.score, 4),
                "killed": r.killed,
                "survived": len(r.survived),
                "equivalent": len(r.equivalent),
            }
    cfg.scores_path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")


def report(results: dict[str, ModuleResult]) -> str:
    lines = [f"{'module':<34} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv':>5} {'score':>7} {'s':>5}"]
    for r in results.values():
        score = f"{r.score:.1%}" if r.complete else "partial"
        lines.append(
            f"{r.name:<34} {r.total:>7} {r.killed:>6} {len(r.survived):>8} {len(r.equivalent):>5} {score:>7}"
            f" {r.seconds:>5.0f}"
        )
    for r in results.values():
        for key in r.survived:
            lines.append(f"  survived  {r.name}:{r.lines.get(key, 0)}  {key}")
        for key in r.equivalent_killed:
            lines.append(f"  marked equivalent but killed  {r.name}  {key}")
        for key in r.stale_equivalents:
            lines.append(f"  stale equivalent (no such mutant)  {r.name}  {key}")
        for err in r.errors:
            lines.append(f"  error  {r.name}  {err}")
    return "\n".join(lines)


def markdown_tables(cfg: Config) -> str:
    """The recorded scores and the marked equivalents as markdown (what docs/testing.md shows)."""
    recorded = cfg.recorded()
    lines = [
        "| module | killed | survived | equivalent | score | target | hash |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, m in cfg.modules.items():
        r = recorded.get(name)
        if r is None:
            lines.append(f"| `{name}` | – | – | – | not recorded | {m.target:.0%} | |")
            continue
        fresh = "" if r.get("hash") == m.content_hash() else " (touched since)"
        lines.append(
            f"| `{name}` | {r['killed']} | {r['survived']} | {r['equivalent']} | {r['score']:.1%} | {m.target:.0%} |"
            f" `{r['hash']}`{fresh} |"
        )
    lines += ["", "| module | mutant | why it is equivalent |", "|---|---|---|"]
    for name, m in cfg.modules.items():
        for e in m.equivalents:
            key = e.key.replace("|", "\\|")  # a table cell
            lines.append(f"| `{name}` | {key} | {e.reason} |")
    return "\n".join(lines)
