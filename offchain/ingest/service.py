"""The ingest service: judge venue-signed fills, store the valid ones durably, acknowledge after commit.

`Ingestor.submit_many` runs one database transaction for a whole bulk and judges each fill on its
own. Acks are built only after the transaction commits, so a crash before the commit leaves the
venue without an ack (and it resends); a crash after it leaves the fill stored (and the resend is a
duplicate). The unique constraint on `(venue, venue_fill_id)` is the arbiter between concurrent
submitters: inserts use `ON CONFLICT DO NOTHING` on it, and a fill that lost the race is re-read
and judged a duplicate or a CONFLICT. (A plain INSERT that raised IntegrityError would abort the
whole PostgreSQL transaction and with it every other fill of the bulk.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from offchain.core.eip712 import Domain
from offchain.core.fills import Fill
from offchain.ingest import limits
from offchain.ingest.limits import LivePositions, PositionLimit
from offchain.ingest.recovery import PIECES_PER_WORKER, Checked, SignerRecovery
from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ingest.validation import (
    Accepted,
    Duplicate,
    Reason,
    Rejection,
    TimeWindow,
    against_stored,
    authenticate_recovered,
    check_terms,
    exit_reduces,
    reduces,
)
from offchain.ledger import fills_store as store
from offchain.ledger.fills_store import FillKey, RejectionRow, StoredFill

if TYPE_CHECKING:
    from offchain.ledger.handles import Connection, Engine

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class AckStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Ack:
    """What a venue gets back. `fill_id` is the ledger's id of the stored fill (for accepted and
    duplicate), `reason` the code of a rejection."""

    status: AckStatus
    fill_id: int | None
    reason: Reason | None
    detail: str

    @classmethod
    def rejected(cls, rejection: Rejection) -> Ack:
        return cls(AckStatus.REJECTED, None, rejection.reason, rejection.detail)


class Authenticated(list[Rejection | None]):
    """`authenticate_many`'s result: per item None (authentic) or its rejection, and beside it the fills'
    Merkle leaves (computed with the digests, in the recovery workers when there are any)."""

    def __init__(self, rejections: Iterable[Rejection | None], leaves: Sequence[bytes]) -> None:
        super().__init__(rejections)
        if len(leaves) != len(self):
            raise ValueError("one leaf per item")
        self.leaves = leaves


@dataclass(slots=True)
class _Claim:
    """The first fill of a bulk that passed every check for its key; later ones with the same key follow it."""

    index: int
    leaf: bytes
    row: dict[str, Any]
    followers: list[tuple[int, bytes]]


class Ingestor:
    """Validates and stores venue fills. Thread-safe; one instance per process is enough.

    The registry snapshot (venues, symbols, instruments, members, latest marks) is cached and
    reloaded when it is older than `snapshot_max_age_ms`, or at once by `refresh()`: registry
    changes and new marks take effect within that time.
    """

    def __init__(
        self,
        engine: Engine,
        domain: Domain,
        clock: Clock = wall_clock_ms,
        *,
        window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen, immutable default
        snapshot_max_age_ms: int = 1_000,
        recovery_workers: int = 0,
        position_limit: PositionLimit | None = None,
    ) -> None:
        """`recovery_workers`: processes that recover the signers of a big bulk in parallel (0: in the
        calling thread; `recovery.default_workers()` is one per core). `position_limit`: the risk engine's
        limit check (`RiskEngineMargin.position_limit`); with it, a fill that takes a member beyond its
        tier's limit is refused with POSITION_LIMIT (offchain/ingest/limits.py), and bulks that check limits
        run one at a time (so two cannot both pass the same headroom)."""
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"ingest supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self._engine = engine
        self._separator = domain.separator  # computed once: it is part of every digest
        self._clock = clock
        self._window = window
        self._max_age_ms = snapshot_max_age_ms
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._count_lock = threading.Lock()
        self._recovery = SignerRecovery(recovery_workers)
        # A piece's statements cost PostgreSQL round trips (staging, COPY, insert, read) that SQLite, in process,
        # does not pay: there the bulk is cut finer, and more of its database work overlaps the recovery.
        self._pieces_per_worker = PIECES_PER_WORKER if engine.dialect.name == "sqlite" else 1
        self._unauthenticated: dict[str, int] = {}
        self._position_limit = position_limit
        self._limit_lock = threading.Lock()

    # ------------------------------------------------------------ registry snapshot

    def refresh(self) -> RegistrySnapshot:
        """Reload the registry snapshot now."""
        with self._engine.connect() as conn:
            snap = RegistrySnapshot.load(conn, self._clock())
        self._snapshot = snap
        return snap

    def snapshot_is_fresh(self) -> bool:
        """True when `snapshot()` will answer from memory (no database read)."""
        snap = self._snapshot
        return snap is not None and self._clock() - snap.loaded_ms < self._max_age_ms

    def snapshot(self, now_ms: int | None = None) -> RegistrySnapshot:
        now_ms = self._clock() if now_ms is None else now_ms
        snap = self._snapshot
        if snap is not None and now_ms - snap.loaded_ms < self._max_age_ms:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and now_ms - snap.loaded_ms < self._max_age_ms:
                return snap  # another thread reloaded it meanwhile
            return self.refresh()

    # ------------------------------------------------------------ submission

    def submit(self, fill: Fill, signature: bytes) -> Ack:
        return self.submit_many([(fill, signature)])[0]

    def authenticate_many(self, items: Sequence[tuple[Fill, bytes]]) -> Authenticated:
        """Stage 1 alone (signature, venue, signer) for each item: None where it is authentic. Lets a caller
        charge the venue's rate limit for authentic fills only, then pass the result to `submit_many`
        (it carries the fills' leaves, hashed beside the recovery, so they are not hashed twice)."""
        return self._authenticated(items, self.snapshot(), self._start_checks(items)())

    def _start_checks(self, items: Sequence[tuple[Fill, bytes]]) -> Callable[[], list[Checked]]:
        return self._recovery.start(self._separator, [(fill.leaf_values(), signature) for fill, signature in items])

    @staticmethod
    def _authenticated(
        items: Sequence[tuple[Fill, bytes]], snap: RegistrySnapshot, checked: Sequence[Checked]
    ) -> Authenticated:
        return Authenticated(
            [authenticate_recovered(fill, signer, snap) for (fill, _), (signer, _) in zip(items, checked, strict=True)],
            [leaf for _, leaf in checked],
        )

    def close(self) -> None:
        """Stop the signature-recovery workers, if any were started."""
        self._recovery.close()

    def unauthenticated_counts(self) -> dict[str, int]:
        """Refusals of fills that did not authenticate, per reason, since this ingestor started."""
        with self._count_lock:
            return dict(self._unauthenticated)

    def submit_many(
        self, items: Sequence[tuple[Fill, bytes]], *, authenticated: Sequence[Rejection | None] | None = None
    ) -> list[Ack]:
        """Judge and store a bulk of fills in one transaction; one ack per item, in order, returned
        only after the transaction has committed. `authenticated`: `authenticate_many(items)`'s result,
        when the caller has it already.

        Fills that do not authenticate are refused with their reason but leave nothing in the ledger:
        anyone can send them, so they are only counted (`unauthenticated_counts`). Refusals of authentic
        fills are recorded in `rejections` (the venue's own rate limit bounds them).

        Through the recovery workers the bulk is stored piece by piece as the workers finish them, all in the
        same transaction: the database work of one piece overlaps the recovery of the next. A later piece
        reads the earlier pieces' rows as stored (a transaction sees its own writes), so a key repeated
        across pieces is judged a duplicate or a CONFLICT exactly as one repeated within a piece."""
        now_ms = self._clock()
        snap = self.snapshot(now_ms)
        terms: list[Accepted | Rejection] | None = None
        pieces: Iterable[tuple[int, Sequence[Rejection | None]]]
        if authenticated is not None:
            if len(authenticated) != len(items):
                raise ValueError("authenticated must have one entry per item")
            pieces = [(0, authenticated)]
        elif self._recovery.parallel(len(items)):
            started = self._recovery.start_pieces(
                self._separator, [(fill.leaf_values(), signature) for fill, signature in items], self._pieces_per_worker
            )
            # While the workers hash and recover, judge every fill's terms (pure, and cheaper than the
            # recovery it overlaps); only the verdicts of authentic fills not stored yet are used.
            terms = [check_terms(fill, snap, now_ms, self._window) for fill, _ in items]
            bounds = [start for start, _ in started[1:]] + [len(items)]
            pieces = (
                (start, self._authenticated(items[start:stop], snap, wait()))
                for (start, wait), stop in zip(started, bounds, strict=True)
            )
        else:
            pieces = [(0, self.authenticate_many(items))]

        acks: list[Ack | None] = [None] * len(items)
        refused: list[tuple[int, Rejection]] = []
        limit = self._position_limit
        with contextlib.ExitStack() as stack:
            conn: Connection | None = None
            live: LivePositions | None = None  # live positions of the bulk's members, read once if needed
            for start, checked in pieces:
                authentic = self._sort_authentic(acks, start, checked)
                if not authentic:
                    continue
                if conn is None:  # the first authentic fill opens the bulk's transaction
                    if limit is not None:
                        stack.enter_context(self._limit_lock)
                    conn = stack.enter_context(self._engine.begin())
                    if limit is not None:
                        store.serialize_limit_checks(conn)  # other processes' limit-checked bulks wait for this one
                    if terms is not None and (
                        limit is not None
                        or any(isinstance(t, Accepted) and (t.closes_out is not None or t.exiting) for t in terms)
                    ):
                        # Read before any piece is inserted: a later read would count the bulk's own fills.
                        live = self._live(conn, snap, [fill for fill, _ in items], limit is not None)
                live = self._store_piece(conn, items, authentic, terms, snap, now_ms, live, acks, refused)
            if conn is not None:
                for i, rejection in refused:
                    acks[i] = Ack.rejected(rejection)
                rows = [
                    RejectionRow(items[i][0].venue, items[i][0].venue_fill_id, why.reason.value, why.detail, now_ms)
                    for i, why in refused
                ]
                store.record_rejections(conn, rows)
        # Committed: only now may the venue learn the outcome.
        assert all(a is not None for a in acks)
        return [a for a in acks if a is not None]

    def _sort_authentic(
        self, acks: list[Ack | None], start: int, checked: Sequence[Rejection | None]
    ) -> list[tuple[int, bytes | None]]:
        """Ack the piece's fills that did not authenticate (counted, never stored); the (index, leaf if hashed
        already) of the others."""
        authentic: list[tuple[int, bytes | None]] = []
        anonymous: dict[str, int] = {}
        leaves = checked.leaves if isinstance(checked, Authenticated) else None
        for k, rejection in enumerate(checked):
            if rejection is None:
                authentic.append((start + k, None if leaves is None else leaves[k]))
            else:
                acks[start + k] = Ack.rejected(rejection)
                anonymous[rejection.reason.value] = anonymous.get(rejection.reason.value, 0) + 1
        if anonymous:
            with self._count_lock:
                for reason, n in anonymous.items():
                    self._unauthenticated[reason] = self._unauthenticated.get(reason, 0) + n
        return authentic

    def _store_piece(
        self,
        conn: Connection,
        items: Sequence[tuple[Fill, bytes]],
        piece: Sequence[tuple[int, bytes | None]],
        terms: Sequence[Accepted | Rejection] | None,
        snap: RegistrySnapshot,
        now_ms: int,
        live: LivePositions | None,
        acks: list[Ack | None],
        refused: list[tuple[int, Rejection]],
    ) -> LivePositions | None:
        """Judge and insert the authentic fills of one piece (index, leaf) inside the bulk's transaction; their
        acks go into `acks`, refusals into `refused`. Returns the live positions (read here if first needed)."""
        limit = self._position_limit
        authentic = [(i, items[i][0].leaf() if leaf is None else leaf) for i, leaf in piece]
        stored = store.read_stored(conn, {(items[i][0].venue, items[i][0].venue_fill_id) for i, _ in authentic})
        claims: dict[FillKey, _Claim] = {}
        for i, leaf in authentic:
            fill, signature = items[i]
            key = (fill.venue, fill.venue_fill_id)
            if key in stored:
                self._settle_against(acks, refused, i, leaf, stored[key])
            elif key in claims:
                claims[key].followers.append((i, leaf))
            else:
                verdict = check_terms(fill, snap, now_ms, self._window) if terms is None else terms[i]
                if isinstance(verdict, Accepted) and (
                    verdict.closes_out is not None or verdict.exiting or limit is not None
                ):
                    if live is None:
                        # Only one piece reaches here without `live` read beforehand: nothing is inserted yet.
                        live = self._live(conn, snap, [items[j][0] for j, _ in authentic], limit is not None)
                    if verdict.closes_out is not None:
                        verdict = _close_out(verdict, fill, live)
                    if isinstance(verdict, Accepted) and verdict.exiting:
                        verdict = _exit_only(verdict, fill, live)
                    if isinstance(verdict, Accepted) and limit is not None:
                        verdict = limits.within_limits(limit, verdict, fill, snap, live) or verdict
                    if isinstance(verdict, Accepted):
                        limits.apply(verdict, fill, live)
                if isinstance(verdict, Accepted):
                    claims[key] = _Claim(i, leaf, _fill_row(fill, signature, leaf, verdict, now_ms), [])
                else:
                    refused.append((i, verdict))

        inserted = store.insert_new_fills(conn, [c.row for c in claims.values()])
        lost = {key for key in claims if key not in inserted}
        winners = store.read_stored(conn, lost) if lost else {}
        for key, claim in claims.items():
            if key in inserted:
                final = StoredFill(inserted[key], claim.leaf)
                acks[claim.index] = Ack(AckStatus.ACCEPTED, final.id, None, "")
            else:  # a concurrent submitter stored this key between our read and our insert
                final = winners[key]
                self._settle_against(acks, refused, claim.index, claim.leaf, final)
            for j, leaf in claim.followers:
                self._settle_against(acks, refused, j, leaf, final)
        return live

    @staticmethod
    def _live(conn: Connection, snap: RegistrySnapshot, bulk: Sequence[Fill], with_limits: bool) -> LivePositions:
        """Live positions, in the bulk's instruments, of every defaulted or exiting member (reduce-only
        checks) and, when limits are checked, of every member the bulk names."""
        accounts = {m.account for m in snap.members.values() if m.status in ("defaulted", "exiting")}
        if with_limits:
            for fill in bulk:
                for address in (fill.buyer, fill.seller):
                    member = snap.members.get(address)
                    if member is not None:
                        accounts.add(member.account)
        instruments = {snap.symbols[(f.venue, f.symbol)] for f in bulk if (f.venue, f.symbol) in snap.symbols}
        return store.live_positions(conn, accounts, instruments)

    @staticmethod
    def _settle_against(
        acks: list[Ack | None], refused: list[tuple[int, Rejection]], i: int, leaf: bytes, stored: StoredFill
    ) -> None:
        verdict = against_stored(leaf, stored.leaf)
        if isinstance(verdict, Duplicate):
            acks[i] = Ack(AckStatus.DUPLICATE, stored.id, None, "identical fill already stored")
        else:
            refused.append((i, verdict))


def _close_out(accepted: Accepted, fill: Fill, live: dict[tuple[int, str], int]) -> Accepted | Rejection:
    """A close-out fill only reduces the defaulter's live position (the caller moves `live` by the fills it
    accepts, so a bulk may close a position in several fills, never past zero)."""
    assert accepted.closes_out is not None
    key = (accepted.closes_out, accepted.instrument)
    buys = accepted.buyer == accepted.closes_out
    refused = reduces(live.get(key, 0), buys, fill.qty)
    return accepted if refused is None else refused


def _exit_only(accepted: Accepted, fill: Fill, live: dict[tuple[int, str], int]) -> Accepted | Rejection:
    """A fill of a member with an open exit request only reduces its live position (each exiting side)."""
    for account in accepted.exiting:
        buys = accepted.buyer == account
        refused = exit_reduces(account, live.get((account, accepted.instrument), 0), buys, fill.qty)
        if refused is not None:
            return refused
    return accepted


def _fill_row(fill: Fill, signature: bytes, leaf: bytes, accepted: Accepted, now_ms: int) -> dict[str, Any]:
    return {
        "venue": fill.venue,
        "venue_fill_id": fill.venue_fill_id,
        "symbol": fill.symbol,
        "instrument": accepted.instrument,
        "buyer": accepted.buyer,
        "seller": accepted.seller,
        "buyer_address": fill.buyer,
        "seller_address": fill.seller,
        "qty": fill.qty,
        "price": fill.price,
        "ts_ms": fill.ts,
        "signature": bytes(signature),
        "leaf": leaf,
        "received_ms": now_ms,
    }
