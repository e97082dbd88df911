"""Drives the Foundry suite (unit, fuzz, invariant tests of the contracts) and checks the ABI export."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from offchain.chain.artifacts import CONTRACTS_DIR, REPO_ROOT

FORGE = CONTRACTS_DIR / "node_modules" / ".bin" / "forge"
MIN_INVARIANT_CALLS = 100_000


@pytest.mark.forge
def test_forge_suite_passes_with_enough_invariant_calls() -> None:
    env = {**os.environ, "FOUNDRY_PROFILE": "default", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(FORGE), "test", "--no-match-test", "^test_bench"],
        cwd=CONTRACTS_DIR,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
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
