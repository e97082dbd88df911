"""Writes of membership applications (table `membership_applications`)."""

from __future__ import annotations

from sqlalchemy import Connection, update

from offchain.ledger import schema as t
from offchain.ledger.atomic import insert_new


def insert_pending_application(
    conn: Connection,
    address: str,
    name: str,
    kind: str,
    tier: str,
    group: str,
    parent: int | None,
    created_ms: int,
) -> bool:
    """Store a pending application; False when `address` has one pending already (the partial unique
    index decides between concurrent applications)."""
    row = {
        "address": address,
        "name": name,
        "kind": kind,
        "tier": tier,
        "group_name": group,
        "parent": parent,
        "status": "pending",
        "account": None,
        "note": "",
        "created_ms": created_ms,
        "decided_ms": None,
    }
    return insert_new(conn, t.membership_applications, row)


def decide_pending(
    conn: Connection,
    application_id: int,
    *,
    status: str,
    decided_ms: int,
    account: int | None = None,
    tier: str | None = None,
    note: str | None = None,
) -> bool:
    """Decide a pending application in one statement; False when it was not pending any more (a
    concurrent decision won). Only the given fields change."""
    a = t.membership_applications.c
    values: dict[str, object] = {"status": status, "decided_ms": decided_ms}
    if account is not None:
        values["account"] = account
    if tier is not None:
        values["tier"] = tier
    if note is not None:
        values["note"] = note
    done = conn.execute(
        update(t.membership_applications)
        .where(a.id == application_id, a.status == "pending")
        .values(**values)
        .returning(a.id)
    ).first()
    return done is not None
