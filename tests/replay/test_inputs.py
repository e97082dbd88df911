"""Price paths at every documented candle length, populations from JSON and CSV, and one real window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from offchain.replay.engine import DEFAULT_POPULATION, ROOT, replay_files
from offchain.replay.population import load_population
from offchain.replay.prices import load_path, merge_paths
from offchain.risk.errors import ConfigError, MarketDataError
from tests.replay.helpers import to_seconds, write_candles

MARKET = ROOT / "data" / "market"


@pytest.mark.parametrize("step", [1, 4, 24])
def test_path_frequencies(tmp_path: Path, step: int) -> None:
    t0 = np.datetime64("2023-01-01T00", "h")
    rows = [(to_seconds(t0 + np.timedelta64(k * step, "h")), "BTC", 100.0 + k) for k in range(10)]
    rows = [r for k, r in enumerate(rows) if k != 4]  # an outage: the close carries forward
    rows += [(to_seconds(t0 + np.timedelta64(k * step, "h")), "ETH", 10.0) for k in range(10)]
    p = load_path(write_candles(tmp_path / "c.csv", rows))
    assert p.step_hours == step and len(p.times) == 10
    assert p.times[0] == t0 + np.timedelta64(step, "h")  # a step is a candle close
    btc = p.close[:, p.column("BTC")]
    assert btc[4] == btc[3] == 103.0


def test_mixed_candle_lengths_rejected(tmp_path: Path) -> None:
    t0 = np.datetime64("2023-01-01T00", "h")
    hourly = [(to_seconds(t0 + np.timedelta64(k, "h")), "BTC", 1.0) for k in range(5)]
    daily = [(to_seconds(t0 + np.timedelta64(24 * k, "h")), "BTC", 1.0) for k in range(5)]
    a, b = write_candles(tmp_path / "a.csv", hourly), write_candles(tmp_path / "b.csv", daily)
    with pytest.raises(MarketDataError, match="same candle length"):
        merge_paths([load_path(a), load_path(b, suffix="-PERP")])
    rows = "timestamp,symbol,close\n2023-01-02T00:00:00Z,BTC,1\n2023-01-01T00:00:00Z,BTC,1\n"
    (tmp_path / "dec.csv").write_text(rows)
    with pytest.raises(MarketDataError, match="increasing"):
        load_path(tmp_path / "dec.csv")


def test_population_json_and_csv(tmp_path: Path) -> None:
    pop = load_population(DEFAULT_POPULATION)
    kinds = {m.kind for m in pop.members}
    assert {"retail_pool", "market_maker", "otc_hedger", "basis_trader", "thin"} <= kinds
    csv = tmp_path / "p.csv"
    csv.write_text(
        "name,kind,tier,capital,cushion,reserve,response_hours,bidder,collateral_asset,positions\n"
        "a,thin,2,1000000,,0,4,false,USDC,dex-a:BTC-USD-PERP:5000000\n"
        "b,market_maker,0,,2,1,1,true,,dex-a:BTC-USD-PERP:-5000000;cex-b:BTC-USD-PERP:4000000\n"
    )
    p = load_population(csv)
    assert [m.name for m in p.members] == ["a", "b"] and p.members[1].bidder and p.members[0].capital == 1e6
    assert {v.name for v in p.venues} == {"dex-a", "cex-b"}
    bad = tmp_path / "bad.json"
    for doc, msg in [
        ({"members": [{"name": "a", "positions": [{"venue": "x", "instrument": "BTC", "notional": 1}]}]}, "capital"),
        (
            {
                "members": [
                    {
                        "name": "a",
                        "kind": "whale",
                        "cushion": 1,
                        "positions": [{"venue": "x", "instrument": "BTC", "notional": 1}],
                    }
                ]
            },
            "kind",
        ),
        ({"members": []}, "at least 2"),
    ]:
        bad.write_text(json.dumps(doc))
        with pytest.raises(ConfigError, match=msg):
            load_population(bad)


def test_real_window_end_to_end() -> None:
    """Four days of the FTX window on the shipped hourly spot and perp data (CI-sized)."""
    r = replay_files(
        [str(MARKET / "binance-spot-hourly-stress.csv.gz")],
        [str(MARKET / "binance-usdm-perp-hourly.csv.gz")],
        "2022-11-07",
        "2022-11-10",
    )
    assert r.steps == 96 and r.step_hours == 1
    assert r.crossclear.adl_count == 0 and r.crossclear.uncovered == 0
    assert r.setup.default_fund > 0
    assert r.setup.market.universe.instruments[0].factor == "BTC-PERP"
