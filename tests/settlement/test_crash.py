"""Crash test: SIGKILL the engine at random moments while venues keep sending fills, then reconcile.

CI runs CROSSCLEAR_CRASH_KILLS kills (default 8); `scripts/crash_test.py --kills 50` is the full run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from offchain.devnet.chaos import run_campaign

pytestmark = pytest.mark.anvil


@pytest.mark.timeout(900)
def test_engine_converges_after_random_sigkills(tmp_path: Path) -> None:
    kills = int(os.environ.get("CROSSCLEAR_CRASH_KILLS", "8"))
    report = run_campaign(tmp_path, kills=kills, seed=int(os.environ.get("CROSSCLEAR_CRASH_SEED", "11")))
    assert report.problems == []
    assert report.kills == kills
    assert report.fills_acknowledged > 50 * kills // 10
    assert report.duplicates_resent > 0
    assert report.batches > kills  # batches kept landing between the kills
