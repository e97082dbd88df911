"""Drives the Foundry suite (unit, fuzz, invariant tests of the contracts) and checks the ABI export."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from offchain.chain.artifacts import REPO_ROOT
from tests.contracts import background

MIN_INVARIANT_CALLS = 100_000


@pytest.mark.forge
def test_forge_suite_passes_with_enough_invariant_calls() -> None:
    result = background.result("forge")  # started when the session was collected (tests/contracts/background.py)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "[FAIL" not in output, output[-8000:]
    invariants = re.findall(r"\[PASS\] (invariant\w*)\(\) \(runs: \d+, calls: (\d+)", output)
    assert invariants, "the forge run reported no invariant tests"
    too_few = {name: int(calls) for name, calls in invariants if int(calls) < MIN_INVARIANT_CALLS}
    assert not too_few, f"invariants below {MIN_INVARIANT_CALLS:,} calls: {too_few}"
    passed = re.findall(r"\[PASS\]", output)
    assert len(passed) >= 50, f"only {len(passed)} forge tests passed"


@pytest.mark.forge
def test_abi_exports_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_abi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
