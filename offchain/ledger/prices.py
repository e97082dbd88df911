"""Prices in the ledger: the observations a feeder records (the `marks` table, several sources per symbol),
the one latest-price rule over them, the marks each confirmed batch settled at, and funding rates.

**The latest-price rule** (`latest_index`): a symbol's price now is the index of each source's latest
observation (offchain/marketdata/index.py: median of the fresh sources after outlier rejection, with a
quorum), under one `IndexRule` and a staleness bound. The settlement engine's marks and collateral prices
(`LedgerPrices`, then the engine's band guard, offchain/settlement/marks.py), the auction band
(`guarded_mark`), ingest's fill price band (its registry snapshot) and `GET /v1/marks` (`latest_indices`: the
same rule over every symbol in one query) read prices through it; nothing reads "the newest row" on its own.
An instrument's index is bounded by its own `mark_stale_ms`, every other symbol's by the rule's `stale_ms`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Connection, Engine, func, insert, select

from offchain.core.obligations import FundingDue, InstrumentSpec, SettledMark
from offchain.ledger import schema as t
from offchain.ledger.market import latest_per_source, latest_per_source_all, record_observation
from offchain.marketdata.index import IndexResult, IndexRule, compute_index
from offchain.marketdata.observations import Observation


def latest_index(
    conn: Connection, symbol: str, now_ms: int, rule: IndexRule | None = None, stale_ms: int | None = None
) -> IndexResult:
    """The index of `symbol` at `now_ms` over each source's latest observation within the rule's source
    window; `stale_ms` (default: the rule's) bounds the age of a source that counts."""
    rule = rule or IndexRule()
    latest = latest_per_source(conn, symbol, now_ms - rule.source_window_ms, now_ms)
    return compute_index(symbol, latest, now_ms, rule, stale_ms)


def latest_indices(
    conn: Connection, now_ms: int, stale_ms: Mapping[str, int], rule: IndexRule | None = None
) -> dict[str, IndexResult]:
    """`latest_index` of every symbol with an observation in the rule's source window and of every symbol
    `stale_ms` names (a cleared instrument nobody reported is there too, halted `missing`), read in one query;
    `stale_ms`: the staleness bound per symbol (cleared instruments' `mark_stale_ms`; others: the rule's)."""
    rule = rule or IndexRule()
    latest = latest_per_source_all(conn, now_ms - rule.source_window_ms, now_ms)
    return {
        s: compute_index(s, latest.get(s, []), now_ms, rule, stale_ms.get(s))
        for s in sorted(set(latest) | set(stale_ms))
    }


class LedgerPrices:
    """The index of every symbol over the ledger's observations, under one rule (cached per call)."""

    def __init__(self, conn: Connection, rule: IndexRule | None = None) -> None:
        self.conn = conn
        self.rule = rule or IndexRule()
        self._cache: dict[tuple[str, int, int | None], IndexResult] = {}

    def index(self, symbol: str, now_ms: int, stale_ms: int | None = None) -> IndexResult:
        key = (symbol, now_ms, stale_ms)
        if key not in self._cache:
            self._cache[key] = latest_index(self.conn, symbol, now_ms, self.rule, stale_ms)
        return self._cache[key]


def guarded_mark(conn: Connection, spec: InstrumentSpec, now_ms: int, rule: IndexRule | None = None) -> int | None:
    """The mark of an instrument now for readers beside the engine (the auction band, the API): its index
    under the marks' rule, no older than the instrument's staleness bound, and within its jump band of the
    last settled mark. None where the engine's guard would halt the mark: no fresh index, or a jump the
    engine has not confirmed yet (a confirmed one is settled within a batch or two, and passes again)."""
    idx = latest_index(conn, spec.name, now_ms, rule, spec.mark_stale_ms)
    if idx.price is None or idx.ts_ms is None or now_ms - idx.ts_ms > spec.mark_stale_ms:
        return None
    last = load_settled_marks(conn).get(spec.name)
    # The band as the engine's MarkGuard measures it: |index - last| in bps of the last settled mark.
    if last is not None and abs(idx.price - last.price) * 10_000 // max(last.price, 1) > spec.max_mark_jump_bps:
        return None
    return idx.price


def load_settled_marks(conn: Connection) -> dict[str, SettledMark]:
    """The mark each instrument was last settled at (by the latest confirmed batch that moved it)."""
    sm = t.settled_marks
    return {
        name: SettledMark(price, ts)
        for name, price, ts in conn.execute(select(sm.c.instrument, sm.c.price, sm.c.ts_ms))
    }


def record_price(conn: Connection, symbol: str, price: int, ts_ms: int, source: str) -> None:
    """Record one unsigned observation (raises MarketInputError on a non-positive price)."""
    record_observation(conn, Observation(symbol, source, price, ts_ms))


def publish_underlyings(
    db: Engine, prices: Mapping[str, float], source: str, decimals: int = 6, now_ms: int | None = None
) -> None:
    """Record each underlying's USD price (e.g. {"BTC": 20_000.0}) at `now_ms` (default: the wall clock),
    as its collateral index price and as the mark of its perpetual `<U>-USD-PERP`: what a devnet price
    feed publishes."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    with db.begin() as conn:
        for underlying, usd in prices.items():
            for symbol in (underlying, f"{underlying}-USD-PERP"):
                record_price(conn, symbol, round(usd * 10**decimals), now, source)


def record_funding(conn: Connection, instrument: str, ts_ms: int, rate_e8: int) -> None:
    conn.execute(insert(t.funding_rates).values(instrument=instrument, ts_ms=ts_ms, rate_e8=rate_e8))


def funding_due(conn: Connection, now_ms: int) -> list[FundingDue]:
    """Funding intervals stamped at or before `now_ms` that no batch has taken yet, oldest first."""
    fr = t.funding_rates
    rows = conn.execute(
        select(fr.c.instrument, fr.c.ts_ms, fr.c.rate_e8)
        .where(fr.c.batch_sequence.is_(None), fr.c.ts_ms <= now_ms)
        .order_by(fr.c.ts_ms)
    )
    return [FundingDue(i, ts, r) for i, ts, r in rows]


def first_mark_ms(conn: Connection) -> int | None:
    """When the ledger's first mark was recorded (None: no mark yet): where its own price history starts."""
    first = conn.execute(select(func.min(t.marks.c.ts_ms))).scalar_one_or_none()
    return None if first is None else int(first)
