"""Default management in the ledger: margin calls (a log, one row per change), members' status, declared
defaults, the waterfall's draws (planned, and the vault's own events) and default-fund contributions.

The default manager (offchain/defaults/manager.py) reads a `DefaultsSnapshot` and returns `DefaultWrites`,
which `apply_writes` stores in the batch's transaction; the engine resubmits a stored batch until it lands,
so the writes become true with it.

A stored batch the vault refuses before it was ever sent is dropped (offchain/ledger/batches.py
`drop_unsent`), and its default writes must go with it: otherwise the ledger believes a margin call issued,
a member defaulted or a default covered and closed that never happened on-chain, and the rebuilt batch (the
same sequence) proposes none of it again. The writes are therefore made undoable by the batch's sequence
rather than deferred to its confirmation, so that the next build, and every reader between build and
confirmation, sees the state the batch in flight leads to (the engine has at most one batch in flight):
every inserted row carries the batch's sequence (`margin_calls`, `waterfall_draws` of source 'plan',
`df_contributions`, a DECLARE's `defaults` row by `declared_sequence`, a CLOSE by `closed_sequence`), and what
the writes overwrite (member statuses, a default's `covered`) is kept in `default_undo` under the sequence.
All of it is written in the build's transaction and undone by `undo_writes` in the drop's, so a crash leaves
either the batch with its writes and their undo, or neither; a confirmed batch's undo row is deleted
(`forget_undo`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, delete, insert, select, update

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


def _keyed_by(w: DefaultWrites, sequence: int) -> None:
    """Every row the writes insert or close names the batch: `undo_writes` finds them by it."""
    seqs = (
        {c.batch_sequence for c in w.calls}
        | {x.declared_sequence for x in w.declares}
        | {r.batch_sequence for r in w.draws}
        | {s for _, s in w.closes}
        | {c.batch_sequence for c in w.contributions}
    )
    if seqs - {sequence}:
        raise ValueError(f"default writes of batch {sequence} name batches {sorted(seqs - {sequence})}")


def _record_undo(conn: Connection, w: DefaultWrites, sequence: int) -> None:
    """Keep what the writes overwrite, as it was before the batch (a second build of the same sequence
    before a drop keeps the first one's values: they are the state before the batch)."""
    u = t.default_undo
    row = conn.execute(select(u.c.statuses, u.c.covered).where(u.c.batch_sequence == sequence)).first()
    statuses: dict[str, str] = dict(row.statuses) if row else {}
    covered: dict[str, str] = dict(row.covered) if row else {}
    m, d = t.members, t.defaults
    for account, _ in w.statuses:
        if str(account) not in statuses:
            was = conn.execute(select(m.c.status).where(m.c.account == account)).scalar_one()
            statuses[str(account)] = was
    for default_id, _ in w.covered:
        if str(default_id) not in covered:
            was_covered = conn.execute(select(d.c.covered).where(d.c.id == default_id)).scalar_one_or_none()
            if was_covered is not None:  # None: declared in this very batch, deleted with it
                covered[str(default_id)] = str(was_covered)
    if row is None:
        conn.execute(insert(u).values(batch_sequence=sequence, statuses=statuses, covered=covered))
    else:
        conn.execute(update(u).where(u.c.batch_sequence == sequence).values(statuses=statuses, covered=covered))


def apply_writes(conn: Connection, w: DefaultWrites, sequence: int) -> None:
    """Store batch `sequence`'s default-management writes (ids follow each table's row order), undoable by
    `undo_writes` while the batch is unsent."""
    _keyed_by(w, sequence)
    _record_undo(conn, w, sequence)
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


def undo_writes(conn: Connection, sequence: int) -> None:
    """Take back batch `sequence`'s default-management writes (the batch is dropped unsent): its rows are
    deleted, its CLOSEs reopened, and member statuses and `covered` put back as they were before it. Only
    while its `default_undo` row exists (every `apply_writes` stores one), so never for a confirmed batch."""
    u, d, m = t.default_undo, t.defaults, t.members
    row = conn.execute(select(u.c.statuses, u.c.covered).where(u.c.batch_sequence == sequence)).first()
    if row is None:  # no default writes stored for it, or the batch is confirmed: they are final
        return
    conn.execute(delete(t.df_contributions).where(t.df_contributions.c.batch_sequence == sequence))
    wd = t.waterfall_draws
    conn.execute(delete(wd).where(wd.c.batch_sequence == sequence, wd.c.source == "plan"))
    # defaults only: an exit close-out's row (offchain/defaults/closeout.py) is the auction house's, not a batch's
    mine = d.c.kind == t.DEFAULT_KIND
    conn.execute(update(d).where(mine, d.c.closed_sequence == sequence).values(status=DECLARED, closed_sequence=None))
    conn.execute(delete(d).where(mine, d.c.declared_sequence == sequence))
    conn.execute(delete(t.margin_calls).where(t.margin_calls.c.batch_sequence == sequence))
    for default_id, covered in row.covered.items():
        conn.execute(update(d).where(d.c.id == int(default_id)).values(covered=int(covered)))
    for account, status in row.statuses.items():
        conn.execute(update(m).where(m.c.account == int(account)).values(status=status))
    forget_undo(conn, sequence)


def forget_undo(conn: Connection, sequence: int) -> None:
    """Batch `sequence` landed: its default writes are final."""
    conn.execute(delete(t.default_undo).where(t.default_undo.c.batch_sequence == sequence))


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
