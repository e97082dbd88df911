"""The close-out of an exiting member that keeps its positions (issue 11, finding 2; docs/defaults.md §2a).

A member with an open exit request may only reduce (ingest's `EXITING`), and the engine serves its exit, IM 0 /
MM 0, once it is flat (offchain/settlement/builder.py `serve_exits`). One that asks to leave and then keeps its
positions would never be served, and `escapePeriod` (E) after its request (plus the vault's `WIND_DOWN_GRACE`)
it could wind the whole vault down. So, once a request has been open for `exit_closeout_after_s`, the engine
**closes the member out**: its book at that moment is auctioned among the other members in tranches, by the
auction house's own machinery (offchain/defaults/house.py: EIP-712 signed bids, fills of the
`crossclear-auction` venue). It is not a default: no DECLARE, no waterfall, no penalty; the fills settle against
the member's own collateral like any fill, and what a tranche does not get bid is **not** closed against the house
but offered again in the next tranche, `interval_s` later (`exit_closeout_stalled` alert, once per run of unbid
tranches). Meanwhile the member keeps its positions and everything they cost: variation margin at every batch,
funding, its margin requirements and calls; if the close-out's losses leave it below MM, the normal default path
takes over (margin call, DECLARE, the default's own auction, whose unbid remainder does go to the house) and the
close-out ends `defaulted`.

The request counts from the block of its latest `ExitRequested` (the vault emits it again when it restarts the
clock, docs/contracts.md "Forced exit"). The delay must leave the auction its time before E: a close-out of
`ceil(10000 / tranche_bps)` tranches takes that many `interval_s` (one more for the last fills to settle), and
the IM 0 it ends with is in force only a loosening delay `L` after it is posted. `closeout_delay` refuses a delay
`>= E - L - auction time`; the default is E / 4 (42 hours of the production E of 7 days, leaving about 4.2 days
of re-offers before E once L = 1 day is set aside; docs/defaults.md).

A member may cancel its request (`cancelExit`) at any time, on-chain. Before the close-out starts, it simply
becomes `active` again. During the close-out, the cancel ends it at the engine's next step (`cancelled`): an
open tranche is withdrawn (its bids lose, `withdrawn`), the fills of tranches cleared before stand (bidders
committed to them), and the member is `active` with what is left of its book. A new request starts the delay
again from its own block (and the vault's E with it), so cancelling cannot hold the vault hostage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from offchain.core.batch import BPS
from offchain.defaults.auction import AuctionParams
from offchain.errors import ConfigError
from offchain.ledger import auctions as store
from offchain.ledger.alerts import record_alert
from offchain.ledger.defaults import member_status
from offchain.ledger.fills_store import live_positions
from offchain.ledger.handles import Connection

DEFAULT_FRACTION = 4  # the default delay: E / 4


class CloseoutTimingError(ConfigError, ValueError):
    """A close-out delay that leaves the auction no time before the escape period ends."""


def auction_time_s(params: AuctionParams) -> int:
    """How long a close-out of a whole position takes when every tranche is bid: one tranche of `tranche_bps`
    every `interval_s`, and one interval more for the last tranche's fills to settle."""
    tranches = -(-BPS // params.tranche_bps)
    return (tranches + 1) * params.interval_s


def closeout_delay(escape_period_s: int, loosening_delay_s: int, params: AuctionParams, configured: int | None) -> int:
    """The close-out delay in force: `configured`, or E / 4 without one; refused (CloseoutTimingError) unless
    0 <= delay < E - L - auction time (the IM 0 a close-out ends with must be in force before E)."""
    delay = escape_period_s // DEFAULT_FRACTION if configured is None else configured
    room = escape_period_s - loosening_delay_s - auction_time_s(params)
    if delay < 0 or delay >= room:
        raise CloseoutTimingError(
            f"exit_closeout_after_s {delay} must be at least 0 and below escapePeriod {escape_period_s} - loosening "
            f"delay {loosening_delay_s} - auction time {auction_time_s(params)} = {room}"
        )
    return delay


def delay_in_force(
    escape_period_s: int, loosening_delay_s: int, params: AuctionParams, configured: int | None
) -> tuple[int, str | None]:
    """What the engine uses at a step: `closeout_delay`, or 0 with the reason when none fits any more (governance
    shortened E under the delay after the engine started): closing out at once beats letting a member wind the
    vault down."""
    try:
        return closeout_delay(escape_period_s, loosening_delay_s, params, configured), None
    except CloseoutTimingError as exc:
        return 0, str(exc)


@dataclass(frozen=True)
class CloseoutChange:
    closeout: int  # its id (the auction number)
    account: int
    status: str  # closing (started), flat, cancelled, defaulted


def due(requested_at: int | None, delay_s: int, now: int) -> bool:
    """Whether a request made at chain second `requested_at` is due for a close-out at `now`."""
    return requested_at is not None and now >= requested_at + delay_s


def sync_closeouts(
    conn: Connection,
    open_exits: frozenset[int],
    requested_at: Mapping[int, int],
    delay_s: int,
    now: int,
    sequence: int,
    now_ms: int,
) -> list[CloseoutChange]:
    """Start and end exit close-outs, in step with the vault's open requests (at chain second `now`, after the
    last confirmed batch `sequence`). A running close-out ends `defaulted` once its member is defaulted,
    `cancelled` once its request is gone, `flat` once the member holds nothing (settled or not); an `exiting`
    member whose request is due and that holds positions gets one, of its live positions then (alert
    `exit_closeout_started`; `exit_closeout_cancelled` when a cancel ends one)."""
    changes: list[CloseoutChange] = []
    running = store.live_closeouts(conn)
    candidates = sorted(open_exits - {c.account for c in running})
    accounts = sorted({c.account for c in running} | set(candidates))
    if not accounts:
        return changes
    status = member_status(conn, accounts)
    live = live_positions(conn, accounts)
    book = {a: {i: q for (acc, i), q in sorted(live.items()) if acc == a and q} for a in accounts}
    for c in running:
        if status.get(c.account) == "defaulted":
            end = store.DEFAULTED
        elif c.account not in open_exits:
            end = store.CANCELLED
            record_alert(
                conn,
                now_ms,
                "exit_closeout_cancelled",
                str(c.account),
                f"account {c.account} cancelled its exit during close-out {c.id}: its open tranche is withdrawn, "
                f"it is active again with {book[c.account] or 'no position'}",
            )
        elif not book[c.account]:
            end = store.FLAT
        else:
            continue
        store.end_closeout(conn, c.id, end, sequence)
        changes.append(CloseoutChange(c.id, c.account, end))
    for a in candidates:
        if status.get(a) != "exiting" or not book[a] or not due(requested_at.get(a), delay_s, now):
            continue
        cid = store.start_closeout(conn, a, book[a], sequence, now)
        record_alert(
            conn,
            now_ms,
            "exit_closeout_started",
            str(a),
            f"account {a} asked to exit {now - requested_at[a]} s ago and still holds {book[a]}: close-out {cid} "
            "auctions its book (members bid; what is not bid is offered again each interval)",
        )
        changes.append(CloseoutChange(cid, a, store.CLOSING))
    return changes
