"""Hot standby: the leader engine is SIGKILLed 20 times at random points of a batch (before signing, after
sending, after inclusion) while venues send fills; a standby takes over each time. 0 fills lost, 0 settled
twice (reconcile), every stage hit, and the longest gap between batches printed (docs/operators.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from offchain.devnet.failover import STAGES, run_failover
from tests.pgdb import fresh_database

pytestmark = pytest.mark.anvil


@pytest.mark.timeout(600)
def test_standby_takes_over_from_a_leader_killed_anywhere(tmp_path: Path, postgres_url: str) -> None:
    kills = int(os.environ.get("CROSSCLEAR_FAILOVER_KILLS", "20"))
    report = run_failover(tmp_path, kills, fresh_database(postgres_url), seed=7)
    print(
        f"\nfailover: {report.kills} leader deaths {dict(report.kills_by_stage)}, {report.batches} batches, "
        f"{report.fills_acknowledged} fills, longest gap between batches {report.longest_gap_s:.2f} s, "
        f"{report.seconds:.0f} s in all"
    )
    assert report.problems == []
    assert report.kills == kills
    assert set(report.kills_by_stage) == set(STAGES)
    assert report.fills_acknowledged > 5 * kills
    assert report.batches > kills
