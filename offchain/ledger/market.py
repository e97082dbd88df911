"""Market-data storage: price observations (the `marks` table), candles and their build cursors.

Observations are append-only; candles are built once per closed interval, in ingest order of time (an
observation stamped before an interval's cursor arrives too late for that candle and is kept only as an
observation: the feeder records in time order, so this happens only for a misbehaving source).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, insert, select, update

from offchain.ledger import schema as t
from offchain.marketdata.candles import INTERVALS, Candle, build_candles
from offchain.marketdata.observations import Observation


def record_observation(conn: Connection, obs: Observation) -> None:
    conn.execute(
        insert(t.marks).values(
            instrument=obs.symbol,
            price=obs.price,
            ts_ms=obs.ts_ms,
            source=obs.source,
            signature=obs.signature,
            signer=obs.signer,
        )
    )


def latest_per_source(conn: Connection, symbol: str, since_ms: int, upto_ms: int) -> list[Observation]:
    """Each source's latest observation of ``symbol`` with ``since_ms <= ts_ms <= upto_ms`` (ties: last recorded)."""
    return _latest_per_source(conn, since_ms, upto_ms, symbol).get(symbol, [])


def latest_per_source_all(conn: Connection, since_ms: int, upto_ms: int) -> dict[str, list[Observation]]:
    """`latest_per_source` of every symbol at once, in one query (symbol -> its sources' latest observations):
    what a reader of every price now (ingest's registry snapshot, `GET /v1/marks`) indexes."""
    return _latest_per_source(conn, since_ms, upto_ms, None)


def _latest_per_source(
    conn: Connection, since_ms: int, upto_ms: int, symbol: str | None
) -> dict[str, list[Observation]]:
    m = t.marks
    window = [m.c.ts_ms >= since_ms, m.c.ts_ms <= upto_ms]
    if symbol is not None:
        window.append(m.c.instrument == symbol)
    latest = (
        select(m.c.instrument, m.c.source, func.max(m.c.ts_ms).label("ts_ms"))
        .where(*window)
        .group_by(m.c.instrument, m.c.source)
        .subquery()
    )
    rows = conn.execute(
        select(m.c.instrument, m.c.source, m.c.price, m.c.ts_ms, m.c.signature, m.c.signer)
        .join(
            latest,
            (m.c.instrument == latest.c.instrument) & (m.c.source == latest.c.source) & (m.c.ts_ms == latest.c.ts_ms),
        )
        .where(*window)
        .order_by(m.c.id)
    ).all()
    out: dict[str, dict[str, Observation]] = {}
    for name, source, price, ts, sig, signer in rows:  # a later-recorded row at the same instant wins
        obs = Observation(name, source, int(price), int(ts), None if sig is None else bytes(sig), signer)
        out.setdefault(name, {})[source] = obs
    return {name: [by[s] for s in sorted(by)] for name, by in sorted(out.items())}


def observations_between(conn: Connection, since_ms: int, before_ms: int) -> list[Observation]:
    m = t.marks
    rows = conn.execute(
        select(m.c.instrument, m.c.source, m.c.price, m.c.ts_ms).where(m.c.ts_ms >= since_ms, m.c.ts_ms < before_ms)
    )
    return [Observation(sym, src, int(p), int(ts)) for sym, src, p, ts in rows]


def close_candles(conn: Connection, upto_ms: int, intervals: Sequence[int] = INTERVALS) -> int:
    """Build the candles of every interval that closed by ``upto_ms`` and is not built yet; returns how many."""
    written = 0
    for interval in intervals:
        cursor = conn.execute(
            select(t.candle_cursors.c.upto_ms).where(t.candle_cursors.c.interval_ms == interval)
        ).scalar_one_or_none()
        end = upto_ms - upto_ms % interval
        if cursor is None:
            first = conn.execute(select(func.min(t.marks.c.ts_ms))).scalar_one_or_none()
            if first is None:
                continue
            start = int(first) - int(first) % interval
        else:
            start = int(cursor)
        if end <= start:
            continue
        candles = build_candles(observations_between(conn, start, end), interval, end)
        insert_candles(conn, candles)
        written += len(candles)
        if cursor is None:
            conn.execute(insert(t.candle_cursors).values(interval_ms=interval, upto_ms=end))
        else:
            conn.execute(update(t.candle_cursors).where(t.candle_cursors.c.interval_ms == interval).values(upto_ms=end))
    return written


def insert_candles(conn: Connection, candles: Iterable[Candle]) -> None:
    rows = [
        {
            "symbol": c.symbol,
            "source": c.source,
            "interval_ms": c.interval_ms,
            "open_ms": c.open_ms,
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "count": c.count,
        }
        for c in candles
    ]
    if rows:
        conn.execute(insert(t.candles), rows)


def load_candles(conn: Connection, symbols: Sequence[str], interval_ms: int, since_ms: int) -> list[Candle]:
    c = t.candles
    rows = conn.execute(
        select(c.c.symbol, c.c.source, c.c.open_ms, c.c.open, c.c.high, c.c.low, c.c.close, c.c.count)
        .where(c.c.symbol.in_(list(symbols)), c.c.interval_ms == interval_ms, c.c.open_ms >= since_ms)
        .order_by(c.c.symbol, c.c.open_ms, c.c.source)
    )
    return [
        Candle(s, src, interval_ms, int(o_ms), int(o), int(h), int(lo), int(cl), n)
        for s, src, o_ms, o, h, lo, cl, n in rows
    ]
