"""Calibration data: the shipped history as the seed of the look-back, the ledger's daily index closes
after it, and the content hash that identifies exactly what a model was calibrated on.

Pure (data in, arrays out) but for :func:`load_seed`, which reads the shipped files. The engine
(offchain/settlement/margin.py) and the auditor (offchain/audit/model.py) both seed their model with
:func:`load_seed` and :data:`PROXIES`: public data and the model's own parameters, not the engine's decisions,
so sharing them keeps the auditor independent (it still rebuilds the model itself and checks its hash).
The live engine's schedule and staleness rule are in
:mod:`offchain.settlement.margin`; the daily index closes come from :mod:`offchain.marketdata.candles`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offchain.marketdata.candles import DAY_MS, IndexClose
from offchain.risk.errors import MarketDataError
from offchain.risk.instruments import Universe
from offchain.risk.marketdata import PriceHistory, load_candles, merge

#: The shipped market data (data/market/README.md): the seed of every model's look-back.
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "market"

#: Proxies for the look-back before a series was listed (a young coin's history borrows BTC's moves).
PROXIES = {"ETH": "BTC", "SOL": "BTC", "BTC-PERP": "BTC", "ETH-PERP": "ETH"}

#: The margin model's name and revision: part of every calibration's version (bump the revision when a
#: code change alters what the model computes from the same data).
MODEL_ID = "crossclear-fhs-es975"
MODEL_REVISION = 2


@dataclass(frozen=True)
class LedgerDays:
    """The ledger's part of the calibration history and what was left out of it (and why)."""

    history: PriceHistory | None
    notes: tuple[str, ...]


def ledger_days(
    closes: Sequence[IndexClose], factor_symbol: Mapping[str, str], required: Sequence[str], decimals: int
) -> LedgerDays:
    """Daily closes of the ledger as a :class:`PriceHistory` over the factors of ``factor_symbol``.

    ``factor_symbol`` maps each factor (``ETH``, ``ETH-PERP``) to the ledger symbol whose index it is
    (``ETH``, ``ETH-USD-PERP``). A day is kept only when every ``required`` factor has a close that day:
    a missing close is a gap that is reported, never filled from another series. Volumes are NaN (the
    index has none; depth keeps the seed's, see :func:`offchain.risk.scenarios.build_scenarios`).
    """
    by_symbol: dict[str, dict[int, float]] = {}
    for c in closes:
        by_symbol.setdefault(c.symbol, {})[c.open_ms // DAY_MS] = c.close / 10**decimals
    days = sorted({d for s in by_symbol.values() for d in s})
    notes: list[str] = []
    keep = []
    for d in days:
        missing = [f for f in required if d not in by_symbol.get(factor_symbol[f], {})]
        if missing:
            notes.append(f"{np.datetime64(d, 'D')}: no index close for {', '.join(missing)}; day left out")
        else:
            keep.append(d)
    if not keep:
        return LedgerDays(None, tuple(notes))
    factors = sorted(factor_symbol)
    close = np.array([[by_symbol.get(factor_symbol[f], {}).get(d, np.nan) for f in factors] for d in keep])
    dates = np.array(keep, dtype="datetime64[D]")
    return LedgerDays(PriceHistory(dates, tuple(factors), close, np.full_like(close, np.nan)), tuple(notes))


def splice(seed: PriceHistory, ledger: PriceHistory | None) -> PriceHistory:
    """The seed followed by the ledger's days (which must all come after the seed's last day)."""
    if ledger is None:
        return seed
    if ledger.dates[0] <= seed.dates[-1]:
        raise MarketDataError(f"ledger days start {ledger.dates[0]}, not after the seed's last day {seed.dates[-1]}")
    extra = [s for s in ledger.symbols if s not in seed.symbols]
    if extra:
        raise MarketDataError(f"ledger has factors the seed lacks: {extra}")
    cols = [ledger.symbols.index(s) if s in ledger.symbols else -1 for s in seed.symbols]
    close = np.full((len(ledger.dates), len(seed.symbols)), np.nan)
    for j, k in enumerate(cols):
        if k >= 0:
            close[:, j] = ledger.close[:, k]
    tail = PriceHistory(ledger.dates, seed.symbols, close, np.full_like(close, np.nan))
    return PriceHistory(
        np.concatenate([seed.dates, tail.dates]),
        seed.symbols,
        np.vstack([seed.close, tail.close]),
        np.vstack([seed.volume, tail.volume]),
    )


def content_hash(history: PriceHistory, settings: str) -> str:
    """SHA-256 of the calibration data (dates, symbols, closes, volumes as little-endian float64) and of
    the model settings' text: equal hashes, equal models."""
    h = hashlib.sha256()
    for part in (MODEL_ID, str(MODEL_REVISION), settings, ",".join(history.symbols)):
        h.update(part.encode())
        h.update(b"\x00")
    h.update(history.dates.astype("datetime64[D]").astype("<i8").tobytes())
    h.update(np.ascontiguousarray(history.close, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(history.volume, dtype="<f8").tobytes())
    return h.hexdigest()


def cut(history: PriceHistory, asof: np.datetime64) -> PriceHistory:
    """The history up to and including ``asof``; MarketDataError if the data does not reach it (a model is
    never calibrated on an earlier day than the one asked for)."""
    day = asof.astype("datetime64[D]")
    if len(history.dates) == 0 or day > history.dates[-1]:
        last = history.dates[-1] if len(history.dates) else "nothing"
        raise MarketDataError(
            f"no market data for {day}: the data ends {last}; a live model recalibrates from the ledger's candles"
        )
    return history.window(end=day)


def model_factors(universe: Universe, collateral_factors: Iterable[str | None]) -> list[str]:
    """The risk factors a model of `universe` and collateral moving with `collateral_factors` needs, sorted."""
    return sorted({i.factor for i in universe.instruments} | {f for f in collateral_factors if f})


def proxies_in(history: PriceHistory) -> dict[str, str]:
    """:data:`PROXIES` of the series `history` has."""
    return {k: v for k, v in PROXIES.items() if k in history.symbols}


def load_seed(factors: Sequence[str], asof: str, data_dir: Path = DATA_DIR) -> PriceHistory:
    """The shipped history of `factors` (spot closes, with BTC as every proxy's base; the perpetuals' own
    series when a factor is one) up to and including the day `asof` (YYYY-MM-DD); MarketDataError if the data
    does not reach it."""
    spot_symbols = sorted({f for f in factors if not f.endswith("-PERP")} | {"BTC"})
    histories = [load_candles(data_dir / "binance-spot-daily.csv.gz", symbols=spot_symbols)]
    if any(f.endswith("-PERP") for f in factors):
        histories.append(load_candles(data_dir / "binance-usdm-perp-hourly.csv.gz", suffix="-PERP"))
    history = merge(*histories)
    keep = set(factors) | set(spot_symbols)
    return cut(history.select([s for s in history.symbols if s in keep]), np.datetime64(asof, "D"))
