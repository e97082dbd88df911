"""Recalibration from the ledger: the shipped history seeds the look-back, the ledger's daily index
closes extend it once a day, and a model whose data is older than the governed limit refuses to margin."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from offchain.core.obligations import InstrumentSpec
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.ledger.db import open_ledger
from offchain.ledger.price_feed_store import LedgerPriceSink
from offchain.ledger.prices import record_price
from offchain.marketdata.candles import DAY_MS, HOUR_MS
from offchain.marketdata.feeder import Feeder
from offchain.marketdata.replay import parse_instant, replay_sources
from offchain.risk.errors import MarketDataError
from offchain.settlement.margin import (
    CalibrationPolicy,
    CollateralSpec,
    RiskEngineMargin,
    StaleCalibrationError,
    build_risk_margin,
)

INSTRUMENTS = {i.name: InstrumentSpec(active=True, **i.model_dump()) for i in DEFAULT_INSTRUMENTS}
COLLATERAL = [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL]
T0 = parse_instant("2026-12-01T10")  # the ledger's clock: the replay starts here


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    return open_ledger(f"sqlite:///{tmp_path}/ledger.db")


def margin(asof: str = "2022-11-05", **policy: int) -> RiskEngineMargin:
    return build_risk_margin(INSTRUMENTS, COLLATERAL, asof, policy=CalibrationPolicy(**policy))  # type: ignore[arg-type]


def test_a_date_beyond_the_data_is_refused_not_clamped() -> None:
    with pytest.raises(MarketDataError, match="no market data for 2025-01-01: the data ends 2024-06-30"):
        margin("2025-01-01")


def test_an_old_seed_on_real_dates_refuses_to_margin(db: Engine) -> None:
    m = margin(seed_end_ms=parse_instant("2022-11-06"))
    with db.begin() as conn, pytest.raises(StaleCalibrationError, match=r"limit 2\.0"):
        m.refresh(conn, T0)


def test_the_model_recalibrates_daily_from_the_ledger_and_goes_stale_without_it(db: Engine) -> None:
    m = margin()
    # Three sources replay 6 Nov 2022 onwards (the FTX crash: 8-9 Nov) from T0, polled hourly.
    feeder = Feeder(LedgerPriceSink(db), replay_sources(parse_instant("2022-11-06"), T0))
    seen: list[tuple[str, int, float]] = []
    btc = m.model.universe.index("BTC-USD-PERP")
    for hour in range(5 * 24):
        now = T0 + hour * HOUR_MS
        feeder.step(now)
        with db.begin() as conn:
            m.refresh(conn, now)
        assert m.calibration is not None
        seen.append((m.calibration.version, m.calibration.ledger_days, float(m.model.sigma[btc])))
    versions = list(dict.fromkeys(v for v, _, _ in seen))
    assert len(versions) == 5  # the seed, then one recalibration per complete ledger day
    assert [d for _, d, _ in seen][-1] == 4
    assert versions[0].startswith("crossclear-fhs-es975.2:seed:2022-11-05:")
    assert versions[-1].startswith("crossclear-fhs-es975.2:2026-12-05:")
    sigmas = [s for _, _, s in seen]
    assert max(sigmas) > 1.5 * sigmas[0]  # the crash days in the ledger raise the volatility forecast
    assert m.calibration is not None and m.calibration.notes == ()
    # The feed stops. The day it stopped in closes (its candles are real data), then nothing more comes:
    # two days after that day's close the model refuses to margin.
    with db.begin() as conn:
        m.refresh(conn, T0 + 6 * DAY_MS)
        assert m.calibration is not None and m.calibration.ledger_days == 5
        last_close = m.calibration.data_end_ms
        m.refresh(conn, last_close + 2 * DAY_MS)
        with pytest.raises(StaleCalibrationError, match="no new complete day of ledger candles"):
            m.refresh(conn, last_close + 2 * DAY_MS + 1)


def test_a_day_one_factor_lacks_is_left_out_not_filled(db: Engine) -> None:
    m = margin()
    with db.begin() as conn:
        for day in range(3):
            ts = T0 + DAY_MS * (day + 1) - 1
            for symbol, usd in (("BTC", 20_000.0), ("BTC-USD-PERP", 20_010.0), ("ETH-USD-PERP", 1_500.0)):
                record_price(conn, symbol, round(usd * (1 + day / 100) * 10**6), ts, "venue")
            if day != 1:  # no ETH index on the second day
                record_price(conn, "ETH", round(1_500 * (1 + day / 100) * 10**6), ts, "venue")
        m.refresh(conn, T0 + 4 * DAY_MS)
    assert m.calibration is not None
    assert m.calibration.ledger_days == 1  # only the last complete day after the seed's placement
    assert any("no index close for ETH" in n for n in m.calibration.notes)


def test_the_hash_is_the_data_and_settings() -> None:
    a, b = margin(), margin()
    assert a.calibration is not None and b.calibration is not None
    assert a.calibration.data_hash == b.calibration.data_hash
    c = margin("2022-11-04")
    assert c.calibration is not None and c.calibration.data_hash != a.calibration.data_hash
    d = build_risk_margin(
        INSTRUMENTS, COLLATERAL, "2022-11-05", config=replace(a.config, apc_weight=0.5), policy=CalibrationPolicy()
    )
    assert d.calibration is not None and d.calibration.data_hash != a.calibration.data_hash
    assert np.isfinite(d.model.sigma).all()
