"""The margin a member had at an instant, read back from the stored batches: the reference of the live IM
rise cap (docs/risk.md, "Rise cap"; offchain/risk/risecap.py).

Every batch payload holds every member's requirement (`requirements`) and, in its margin detail, the stressed
floor of that requirement (`stress_floor`); the reference of a day is the last confirmed batch before the
day began, so a restarted engine finds the same reference as the one that ran through the day.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from offchain.ledger import schema as t
from offchain.ledger.batches import CONFIRMED


def margin_before(conn: Connection, before_ms: int) -> dict[int, tuple[int, int]]:
    """member -> (IM posted, its stressed floor) in base units, at the last confirmed batch whose asOf is
    before ``before_ms``; members whose batch recorded no floor (payloads from before the cap) are left out."""
    b = t.batches.c
    payload = conn.execute(
        select(b.payload).where(b.status == CONFIRMED, b.as_of_ms < before_ms).order_by(b.sequence.desc()).limit(1)
    ).scalar_one_or_none()
    if payload is None:
        return {}
    detail = payload.get("margin_detail", {})
    out: dict[int, tuple[int, int]] = {}
    for account, (im, _mm) in payload.get("requirements", {}).items():
        floor = detail.get(account, {}).get("stress_floor")
        if floor is not None:
            out[int(account)] = (int(im), int(floor))
    return out
