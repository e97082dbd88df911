"""The long contract runs (forge's suite, Slither, Halmos), started in the background as soon as the session has
collected them.

Forge's suite (its invariant campaigns alone take minutes), Slither and Halmos are single processes that do not
touch the Python tests' state, so on the 2-core CI machine they run on one core while the rest of the suite
runs on the other: `tests/conftest.py` calls `start` from `pytest_collection_finish` when the session holds
their tests, and the tests wait for the result here. One worker runs them in turn (forge and Slither read
forge's build output, Slither's own `forge build` finds it fresh; Halmos builds into out-halmos/). Run alone
(`pytest tests/contracts/test_forge.py`), a test starts its run itself.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from offchain.chain.artifacts import CONTRACTS_DIR

FORGE = CONTRACTS_DIR / "node_modules" / ".bin" / "forge"
FORGE_TEST = "tests/contracts/test_forge.py::test_forge_suite_passes_with_enough_invariant_calls"
SLITHER_TEST = "tests/contracts/test_slither.py::test_slither_finds_nothing_untriaged"
HALMOS_TEST = "tests/contracts/test_halmos.py::test_halmos_proves_every_rule"


def cached_tool(command: str, package: str, version: str, override_env: str) -> Path:
    """A Python analysis tool's executable (Slither, Halmos): `$override_env` when set, else a venv of its
    own under the user's cache (`crossclear/<command>-<version>`), made on first use. A venv of its own
    because the tools' pins (halmos's `rich<14.1`) would fight the project's; one per version."""
    given = os.environ.get(override_env)
    if given:
        return Path(given)
    venv = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crossclear" / f"{command}-{version}"
    exe = venv / "bin" / command
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{package}=={version}"], check=True, timeout=1200)
    return exe


Run = Callable[[], subprocess.CompletedProcess[str]]
_runs: dict[str, Future[subprocess.CompletedProcess[str]]] = {}
_queue: queue.Queue[tuple[Future[subprocess.CompletedProcess[str]], Run]] = queue.Queue()
_worker: threading.Thread | None = None


def _work() -> None:
    while True:
        future, run = _queue.get()
        try:
            future.set_result(run())
        except BaseException as exc:  # the test that waits for it reports it
            future.set_exception(exc)


def _submit(name: str, run: Run) -> None:
    """Queue `run` on the one worker: a daemon thread, so a session that stops early does not wait for it."""
    global _worker
    if _worker is None:
        _worker = threading.Thread(target=_work, name="contracts", daemon=True)
        _worker.start()
    _runs[name] = Future()
    _queue.put((_runs[name], run))


def _forge() -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOUNDRY_PROFILE": "default", "NO_COLOR": "1"}
    return subprocess.run(
        [str(FORGE), "test", "--no-match-test", "^test_bench"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def _slither() -> subprocess.CompletedProcess[str]:
    from tests.contracts.test_slither import SLITHER_ARGS, slither_executable

    report = Path(tempfile.mkdtemp(prefix="crossclear-slither-")) / "slither.json"
    env = {**os.environ, "PATH": f"{CONTRACTS_DIR / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(slither_executable()), *SLITHER_ARGS, "--json", str(report)],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, str(report), done.stdout + done.stderr)


def _halmos() -> subprocess.CompletedProcess[str]:
    from tests.contracts.test_halmos import HALMOS_ARGS, HALMOS_ENV, halmos_executable

    path = f"{CONTRACTS_DIR / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, **HALMOS_ENV, "PATH": path, "NO_COLOR": "1"}
    return subprocess.run(
        [str(halmos_executable()), *HALMOS_ARGS],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


RUNS: dict[str, tuple[str, Run]] = {
    "forge": (FORGE_TEST, _forge),
    "slither": (SLITHER_TEST, _slither),
    "halmos": (HALMOS_TEST, _halmos),
}


def start(nodeids: list[str]) -> None:
    """Start the runs whose tests are among `nodeids` (forge's first: it is the longer)."""
    for name, (test, run) in RUNS.items():
        if name not in _runs and any(n == test or n.endswith(test) for n in nodeids):
            _submit(name, run)


def result(name: str) -> subprocess.CompletedProcess[str]:
    """The run's result, waiting for it (and starting it first if the session did not)."""
    if name not in _runs:
        _submit(name, RUNS[name][1])
    return _runs[name].result()
