"""Default management in the ledger: margin calls (a log, one row per change), members' status, declared
defaults, the waterfall's draws (planned, and the vault's own events) and default-fund contributions.

The default manager (offchain/defaults/manager.py) reads a `DefaultsSnapshot` and returns `DefaultWrites`,
which `apply_writes` stores in the batch's transaction; the engine resubmits a stored batch until it lands,
so the writes become true with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, insert, select, update

from offchain.core.obligations import InstrumentSpec
from offchain.core.waterfall import Draw
from offchain.ledger import schema as t
from offchain.ledger.instruments import load_instruments

DECLARED, CLOSED = "declared", "closed"


@dataclass(frozen=True)
class CallRow:
    """A member's latest `margin_calls` row: whether a call is open is the defaults package's rule."""

    account: int
    verdict: str
    amount: int
    deadline: int  # chain seconds
    deep: bool


@dataclass(frozen=True)
class OpenDefault:
    id: int
    account: int
    covered: int  # loss covered so far by COVER rows
    declared_sequence: int


@dataclass(frozen=True)
class DefaultsSnapshot:
    """What a batch's default management reads from the ledger, in the batch's transaction."""

    calls: dict[int, CallRow]  # member -> its latest margin-call row
    status: dict[int, str]  # member -> active, exiting, close_only or defaulted
    open_defaults: tuple[OpenDefault, ...]  # declared, not closed, by id
    closed_since_sizing: bool  # a default closed at or after the batch of the last contribution sizing
    instruments: dict[str, InstrumentSpec]


@dataclass(frozen=True)
class CallRecord:
    """One `margin_calls` row: the verdict on a member's call at a batch and the state it was judged on."""

    batch_sequence: int
    account: int
    verdict: str
    amount: int
    deadline: int
    deep: bool
    equity: int
    debt: int
    im: int
    mm: int
    as_of: int


@dataclass(frozen=True)
class DeclareRecord:
    account: int
    declared_sequence: int
    declared_at: int  # chain seconds
    positions: dict[str, int]  # instrument -> signed qty at DECLARE
    penalty_bps: int
    pool_value: int
    pool_shares: int


@dataclass(frozen=True)
class DrawRecord:
    default_id: int
    batch_sequence: int
    source: str  # "plan" (the engine's waterfall plan) or "chain" (the vault's WaterfallDraw event)
    draw: Draw


@dataclass(frozen=True)
class ContributionRecord:
    batch_sequence: int
    account: int
    target: int
    current: int  # contribution value before the batch
    amount: int  # the contribution row (> 0 in, < 0 returned, 0: nothing to do)


@dataclass(frozen=True)
class DefaultWrites:
    """The ledger writes of one batch's default management, each table in the order of its rows."""

    calls: tuple[CallRecord, ...] = ()
    statuses: tuple[tuple[int, str], ...] = ()  # (account, new status), in order
    declares: tuple[DeclareRecord, ...] = ()
    draws: tuple[DrawRecord, ...] = ()
    covered: tuple[tuple[int, int], ...] = ()  # (default id, covered after this batch)
    closes: tuple[tuple[int, int], ...] = ()  # (default id, closing batch sequence)
    contributions: tuple[ContributionRecord, ...] = ()


# ---------------------------------------------------------------- reads


def latest_calls(conn: Connection) -> dict[int, CallRow]:
    """Each member's latest margin-call row (the log replayed: a later row supersedes an earlier one)."""
    mc = t.margin_calls
    out: dict[int, CallRow] = {}
    for account, verdict, amount, deadline, deep in conn.execute(
        select(mc.c.account, mc.c.verdict, mc.c.amount, mc.c.deadline, mc.c.deep).order_by(mc.c.id)
    ):
        out[account] = CallRow(account, verdict, amount, deadline, deep)
    return out


def member_status(conn: Connection, accounts: Sequence[int]) -> dict[int, str]:
    m = t.members
    return {a: st for a, st in conn.execute(select(m.c.account, m.c.status).where(m.c.account.in_(list(accounts))))}


def open_defaults(conn: Connection) -> tuple[OpenDefault, ...]:
    d = t.defaults
    rows = conn.execute(
        select(d.c.id, d.c.account, d.c.covered, d.c.declared_sequence).where(d.c.status == DECLARED).order_by(d.c.id)
    )
    return tuple(OpenDefault(int(i), int(a), int(c), int(s)) for i, a, c, s in rows)


def closed_since_sizing(conn: Connection) -> bool:
    """Whether a default closed at or after the batch of the latest contribution sizing (replenishment due)."""
    d = t.defaults
    last = conn.execute(
        select(t.df_contributions.c.batch_sequence).order_by(t.df_contributions.c.id.desc()).limit(1)
    ).scalar_one_or_none()
    closed = select(d.c.id).where(d.c.status == CLOSED, d.c.closed_sequence >= (last or 0))
    return conn.execute(closed).first() is not None


def read_snapshot(conn: Connection, accounts: Sequence[int]) -> DefaultsSnapshot:
    return DefaultsSnapshot(
        calls=latest_calls(conn),
        status=member_status(conn, accounts),
        open_defaults=open_defaults(conn),
        closed_since_sizing=closed_since_sizing(conn),
        instruments=load_instruments(conn),
    )


# ---------------------------------------------------------------- writes


def _draw_rows(draws: Sequence[DrawRecord]) -> list[dict[str, object]]:
    return [
        {
            "default_id": r.default_id,
            "batch_sequence": r.batch_sequence,
            "source": r.source,
            "layer": int(r.draw.layer),
            "account": r.draw.account,
            "asset": r.draw.asset,
            "amount": r.draw.amount,
            "value": r.draw.value,
        }
        for r in draws
    ]


def apply_writes(conn: Connection, w: DefaultWrites) -> None:
    """Store one batch's default-management writes (ids follow each table's row order)."""
    for c in w.calls:
        conn.execute(insert(t.margin_calls).values(**asdict(c)))
    for account, status in w.statuses:
        conn.execute(update(t.members).where(t.members.c.account == account).values(status=status))
    d = t.defaults
    for x in w.declares:
        conn.execute(
            insert(d).values(
                account=x.account,
                kind=t.DEFAULT_KIND,
                status=DECLARED,
                declared_sequence=x.declared_sequence,
                declared_at=x.declared_at,
                positions={i: str(q) for i, q in sorted(x.positions.items())},
                penalty_bps=x.penalty_bps,
                pool_value=x.pool_value,
                pool_shares=x.pool_shares,
                covered=0,
            )
        )
    if w.draws:
        conn.execute(insert(t.waterfall_draws), _draw_rows(w.draws))
    for default_id, covered in w.covered:
        conn.execute(update(d).where(d.c.id == default_id).values(covered=covered))
    for default_id, sequence in w.closes:
        conn.execute(update(d).where(d.c.id == default_id).values(status=CLOSED, closed_sequence=sequence))
    if w.contributions:
        conn.execute(insert(t.df_contributions), [asdict(c) for c in w.contributions])


def store_chain_draws(conn: Connection, sequence: int, events: Sequence[tuple[int, Draw]]) -> None:
    """Store (defaulter, draw) WaterfallDraw events of confirmed batch `sequence` (source 'chain') against
    the defaults they served (the latest default of each defaulter)."""
    d = t.defaults
    defaults_only = select(d.c.id, d.c.account).where(d.c.kind == t.DEFAULT_KIND)  # not exit close-outs
    ids: Mapping[int, int] = {account: i for i, account in conn.execute(defaults_only.order_by(d.c.id))}
    missing = {defaulter for defaulter, _ in events if defaulter not in ids}
    if missing:
        raise LookupError(f"batch {sequence} drew on the waterfall for {sorted(missing)}, unknown to the ledger")
    if events:
        conn.execute(
            insert(t.waterfall_draws),
            _draw_rows([DrawRecord(ids[defaulter], sequence, "chain", x) for defaulter, x in events]),
        )
