"""Members, their permissions, membership applications and venues, as the API reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import Connection, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class MemberRow:
    account: int
    address: str
    name: str
    kind: str
    tier: str
    group_name: str
    status: str
    created_ms: int


ApplicationStatus = Literal["pending", "approved", "rejected"]


def _application_status(value: str) -> ApplicationStatus:
    if value not in get_args(ApplicationStatus):
        raise ValueError(f"membership application status {value!r} is not one the ledger writes")
    return cast(ApplicationStatus, value)


@dataclass(frozen=True)
class ApplicationRow:
    id: int
    address: str
    name: str
    kind: str
    tier: str
    group_name: str
    parent: int | None
    status: ApplicationStatus
    account: int | None
    note: str
    created_ms: int
    decided_ms: int | None


@dataclass(frozen=True)
class VenueRow:
    name: str
    signer: str
    kind: str
    approved: bool
    created_ms: int


def _member(r: Any) -> MemberRow:
    return MemberRow(int(r.account), r.address, r.name, r.kind, r.tier, r.group_name, r.status, int(r.created_ms))


def _application(r: Any) -> ApplicationRow:
    return ApplicationRow(
        int(r.id),
        r.address,
        r.name,
        r.kind,
        r.tier,
        r.group_name,
        None if r.parent is None else int(r.parent),
        _application_status(r.status),
        None if r.account is None else int(r.account),
        r.note,
        int(r.created_ms),
        None if r.decided_ms is None else int(r.decided_ms),
    )


def _venue(r: Any) -> VenueRow:
    return VenueRow(r.name, r.signer, r.kind, bool(r.approved), int(r.created_ms))


# ---------------------------------------------------------------- members


def member(conn: Connection, account: int) -> MemberRow | None:
    row = conn.execute(select(t.members).where(t.members.c.account == account)).first()
    return None if row is None else _member(row)


def account_of(conn: Connection, address: str) -> int | None:
    """The member account of `address`, if it is a member."""
    row = conn.execute(select(t.members.c.account).where(t.members.c.address == address)).first()
    return None if row is None else int(row.account)


def address_of(conn: Connection, account: int) -> str | None:
    value = conn.execute(select(t.members.c.address).where(t.members.c.account == account)).scalar_one_or_none()
    return None if value is None else str(value)


def approved_parent(conn: Connection, account: int) -> int | None:
    """The parent account of an approved sub-account, None for a main account."""
    a = t.membership_applications.c
    p = conn.execute(
        select(a.parent).where(a.account == account, a.status == "approved", a.parent.is_not(None))
    ).first()
    return None if p is None else int(p.parent)


def permitted_instruments(conn: Connection, account: int) -> list[str]:
    p = t.permissions.c
    q = select(p.instrument).where(p.member == account).order_by(p.instrument)
    return [str(i) for i in conn.execute(q).scalars()]


def member_groups(conn: Connection) -> dict[int, str]:
    """account -> member group (for the platform's directional view)."""
    m = t.members.c
    return {int(r.account): r.group_name for r in conn.execute(select(m.account, m.group_name))}


# ---------------------------------------------------------------- applications


def application(conn: Connection, application_id: int) -> ApplicationRow | None:
    a = t.membership_applications.c
    row = conn.execute(select(t.membership_applications).where(a.id == application_id)).first()
    return None if row is None else _application(row)


def stored_application(conn: Connection, application_id: int) -> ApplicationRow:
    """An application the caller has just written in this transaction (it must exist)."""
    a = t.membership_applications.c
    return _application(conn.execute(select(t.membership_applications).where(a.id == application_id)).one())


def stored_pending_application(conn: Connection, address: str) -> ApplicationRow:
    """The pending application of `address` the caller has just written in this transaction."""
    a = t.membership_applications.c
    return _application(
        conn.execute(select(t.membership_applications).where(a.address == address, a.status == "pending")).one()
    )


def applications_page(
    conn: Connection, cursor: int, limit: int, address: str | None = None, status: str | None = None
) -> list[ApplicationRow]:
    """Applications after id `cursor`, oldest first; only `address`'s and only of `status` when given."""
    a = t.membership_applications.c
    q = select(t.membership_applications).where(a.id > cursor)
    if address is not None:
        q = q.where(a.address == address)
    if status is not None:
        q = q.where(a.status == status)
    return [_application(r) for r in conn.execute(q.order_by(a.id).limit(limit))]


def sub_account_applications(conn: Connection, parent: int) -> list[ApplicationRow]:
    a = t.membership_applications.c
    return [
        _application(r)
        for r in conn.execute(select(t.membership_applications).where(a.parent == parent).order_by(a.id))
    ]


# ---------------------------------------------------------------- venues


def venues(conn: Connection) -> list[VenueRow]:
    return [_venue(r) for r in conn.execute(select(t.venues).order_by(t.venues.c.name))]


def venue(conn: Connection, name: str) -> VenueRow | None:
    row = conn.execute(select(t.venues).where(t.venues.c.name == name)).first()
    return None if row is None else _venue(row)


def is_venue_signer(conn: Connection, address: str) -> bool:
    return conn.execute(select(t.venues.c.name).where(t.venues.c.signer == address)).first() is not None


def stored_venue(conn: Connection, name: str) -> VenueRow:
    """A venue the caller has just registered or approved in this transaction (it must exist)."""
    return _venue(conn.execute(select(t.venues).where(t.venues.c.name == name)).one())


def member_statuses(conn: Connection) -> dict[int, str]:
    """account -> the ledger's member status (active, exiting, close_only, defaulted)."""
    m = t.members.c
    return {int(a): str(s) for a, s in conn.execute(select(m.account, m.status))}
