"""Group commit of single fills: concurrent callers share transactions, each gets its own ack after the commit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from offchain.ingest import AckStatus
from offchain.ingest.coalesce import Coalescer
from tests.ingest.conftest import OTHER_KEY, World, sign


def test_concurrent_single_fills_share_commits(world: World) -> None:
    commits = []
    event.listen(world.engine, "commit", lambda conn: commits.append(1))
    fills = [world.fill(venue_fill_id=f"c-{i}") for i in range(40)]
    items = [(f, sign(f, OTHER_KEY) if i % 10 == 3 else sign(f)) for i, f in enumerate(fills)]
    items.append(items[0])  # the same fill twice at once: one stores it, the other is its duplicate
    coalescer = Coalescer(world.ingestor)
    barrier = threading.Barrier(len(items))

    def send(i: int) -> AckStatus:
        fill, sig = items[i]
        (checked,) = world.ingestor.authenticate_many([(fill, sig)])
        barrier.wait()
        return coalescer.submit(fill, sig, checked).status

    try:
        with ThreadPoolExecutor(len(items)) as pool:
            statuses = list(pool.map(send, range(len(items))))
    finally:
        coalescer.close()
    assert [s for i, s in enumerate(statuses[:40]) if i % 10 == 3] == [AckStatus.REJECTED] * 4
    assert sorted([statuses[0], statuses[40]]) == sorted([AckStatus.ACCEPTED, AckStatus.DUPLICATE])
    assert world.fill_count() == 36
    assert len(commits) < 40  # shared: far fewer commits than fills
