"""Halmos in CI: the symbolic proofs of the vault's loosening and outflow rules (contracts/test/halmos/) hold.

Halmos explores every path of each `check_` function with symbolic inputs (docs/contracts.md, "Symbolic
proofs"). It compiles through forge (solcjs via solcw) into a build directory of its own, so it never
invalidates the build forge's suite and Slither share. Like Slither it lives in a venv of its own: halmos
pins rich < 14.1 and the project's venv has a newer rich. The venv is made on first use in the user's cache
directory (CI runs on the same machine, so later runs reuse it); `CROSSCLEAR_HALMOS` may name a halmos
executable instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.contracts import background

HALMOS_VERSION = "0.3.3"
# Every proof, by name: a proof that silently stops being found fails here, not by going missing.
PROOFS = (
    "check_approvalsStayWithinTheOutflowBudget",
    "check_contributeKeepsThePoolsBooks",
    "check_fastTransferPathMatchesTheReference",
    "check_haircutDecreaseWaitsTheDelay",
    "check_removeTakesExactlyTheAmount",
    "check_requirementDecreaseWaitsTheDelay",
)
# No per-query timeout on assertions: the transfer proof's hardest queries take minutes under load, and a
# query cut short reports TIMEOUT, not a verdict (the whole run stays bounded by the worker's timeout).
HALMOS_ARGS = ("--forge-build-out", "out-halmos", "--function", "check_", "--solver-timeout-assertion", "0")
# Halmos builds the sources and the halmos tests only, into out-halmos/ (the other profiles' out/ stays fresh).
HALMOS_ENV = {"FOUNDRY_TEST": "test/halmos", "FOUNDRY_OUT": "out-halmos", "FOUNDRY_CACHE_PATH": "cache-halmos"}


def halmos_executable() -> Path:
    """The halmos executable: `CROSSCLEAR_HALMOS`, else a venv of its own, made on first use."""
    return background.cached_tool("halmos", "halmos", HALMOS_VERSION, "CROSSCLEAR_HALMOS")


def verdicts(output: str) -> dict[str, str]:
    """proof name -> PASS / FAIL / ERROR / TIMEOUT, from Halmos's report (colour codes stripped)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return {name: verdict for verdict, name in re.findall(r"\[(PASS|FAIL|ERROR|TIMEOUT)\] (check_\w+)\(", plain)}


def test_verdicts_reads_every_outcome() -> None:
    out = (
        "\x1b[32m[PASS]\x1b[0m check_a(uint64) (paths: 3, time: 0.1s, bounds: [])\n"
        "\x1b[31m[FAIL]\x1b[0m check_b() (paths: 2, time: 0.2s, bounds: [])\n"
        "[TIMEOUT] check_c(uint8,bool) (paths: 1, time: 60s, bounds: [])\n"
    )
    assert verdicts(out) == {"check_a": "PASS", "check_b": "FAIL", "check_c": "TIMEOUT"}


@pytest.mark.forge
def test_halmos_proves_every_rule() -> None:
    run = background.result("halmos")  # started when the session was collected (tests/contracts/background.py)
    output = run.stdout + run.stderr
    found = verdicts(output)
    failed = {name: v for name, v in found.items() if v != "PASS"}
    missing = [name for name in PROOFS if name not in found]
    assert not failed and not missing, f"failed: {failed}, missing: {missing}\n{output[-8000:]}"
    assert run.returncode == 0, output[-8000:]
