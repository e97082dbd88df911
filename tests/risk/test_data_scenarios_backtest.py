"""Market data loading, scenario construction and the back-test statistics, on the shipped real data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from offchain.risk.backtest import (
    CRASHES,
    Portfolio,
    christoffersen_ind,
    es_ratio_test,
    im_rises,
    kupiec_pof,
    procyclicality,
    run_backtest,
)
from offchain.risk.config import MarginConfig
from offchain.risk.errors import MarketDataError
from offchain.risk.margin import core_risk
from offchain.risk.marketdata import PriceHistory, ewma_sigma, gaps, load_candles, merge, simple_returns
from offchain.risk.scenarios import STRESS_PERIODS, ScenarioConfig, build_scenarios, filter_history, stress_months

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
SPOT = DATA / "binance-spot-daily.csv.gz"
PERP = DATA / "binance-usdm-perp-hourly.csv.gz"


@pytest.fixture(scope="module")
def history() -> PriceHistory:
    spot = load_candles(SPOT, symbols=["BTC", "ETH", "SOL", "PAXG"])
    perp = load_candles(PERP, suffix="-PERP")
    return merge(spot, perp)


PROXIES = {"ETH": "BTC", "SOL": "BTC", "PAXG": "BTC", "BTC-PERP": "BTC", "ETH-PERP": "ETH"}


def test_load_real_daily(history: PriceHistory) -> None:
    btc = history.index("BTC")
    i = int(np.searchsorted(history.dates, np.datetime64("2020-03-12")))
    assert history.close[i, btc] == 4800.00  # README check value
    assert history.dates[-1] == np.datetime64("2024-06-30")
    assert np.isnan(history.close[0, history.index("SOL")])  # not listed in 2017


def test_hourly_perp_reduced_to_daily_close(history: PriceHistory) -> None:
    # Daily perp close is the 23:00 candle's close: tracks spot within the basis.
    b, p = history.index("BTC"), history.index("BTC-PERP")
    ok = np.isfinite(history.close[:, b]) & np.isfinite(history.close[:, p])
    basis = history.close[ok, p] / history.close[ok, b] - 1
    assert ok.sum() > 1_600 and np.quantile(np.abs(basis), 0.99) < 0.01


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match="not found"):
        load_candles(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"timestamp,symbol,close\n2020-01-01T00:00:00Z,BTC,1\n"))
    with pytest.raises(MarketDataError, match="missing column"):
        load_candles(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("timestamp,symbol,open,high,low,close,volume\n2020-01-01T00:00:00Z,BTC,1,1,1,-1,0\n")
    with pytest.raises(MarketDataError, match="> 0"):
        load_candles(neg)


def test_hourly_aggregation_known_answer(tmp_path: Path) -> None:
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    rows += [f"2020-01-01T{h:02d}:00:00Z,X,1,{h + 1},1,{h + 1},1" for h in range(24)]
    rows += [f"2020-01-02T{h:02d}:00:00Z,X,1,{h + 100},1,{h + 100},2" for h in range(12)]  # incomplete day
    f = tmp_path / "h.csv"
    f.write_text("\n".join(rows) + "\n")
    h = load_candles(f)
    np.testing.assert_array_equal(h.dates, [np.datetime64("2020-01-01")])
    assert h.close[0, 0] == 24.0 and h.volume[0, 0] == 24.0


def test_ewma_known_answer() -> None:
    r = np.array([[np.nan], [0.1], [0.1], [-0.2], [0.0]])
    s = ewma_sigma(r, 0.5, seed=2)
    # seeded at row 3 with mean(0.01, 0.01); row 4 = 0.5 * 0.01 + 0.5 * 0.04
    assert np.isnan(s[2, 0]) and s[3, 0] == pytest.approx(0.1) and s[4, 0] == pytest.approx(np.sqrt(0.025))


def test_scenarios_rescale_and_no_lookahead(history: PriceHistory) -> None:
    cfg = ScenarioConfig(lookback_days=500, stress_periods=STRESS_PERIODS)  # the four named crashes, fixed
    f = filter_history(history, PROXIES, cfg)
    t = int(np.searchsorted(history.dates, np.datetime64("2022-06-15")))
    ss = build_scenarios(f, t, ["BTC", "SOL", "BTC-PERP"], cfg)
    assert ss.fhs.shape == (3, 500)
    # Filtered scenarios have roughly today's volatility (standardised residuals have unit variance).
    ratio = ss.fhs.std(axis=1) / ss.sigma_now
    assert np.all((ratio > 0.8) & (ratio < 1.3))
    # Only periods that ended before 2022-06-15 (mirrored too), then the basis-dislocation block (BTC-PERP).
    assert ss.stress_names == (
        "2020-03",
        "2020-03-mirror",
        "2021-05",
        "2021-05-mirror",
        "2022-05",
        "2022-05-mirror",
        "basis-dislocations",
        "basis-dislocations-mirror",
    )
    # SOL was not listed in March 2020: its stressed returns come from BTC scaled by relative volatility.
    march = ss.stress_label == 0
    c = np.corrcoef(ss.stress[0, march], ss.stress[1, march])[0, 1]
    assert c == pytest.approx(1.0)
    with pytest.raises(MarketDataError):
        build_scenarios(f, 100, ["BTC"], cfg)  # not enough look-back


def test_basis_dislocation_block_no_lookahead(history: PriceHistory) -> None:
    cfg = ScenarioConfig(basis_stress_days=3)
    f = filter_history(history, PROXIES, cfg)
    fac = ["BTC", "ETH", "BTC-PERP", "ETH-PERP"]
    cols = [history.index(x) for x in fac]
    spots = [history.index("BTC"), history.index("ETH")]

    def basis(t: int) -> np.ndarray:
        r = f.returns[: t + 1]
        return np.asarray(r[:, [cols[2], cols[3]]] - r[:, spots])

    for day in ("2021-06-15", "2020-03-12"):  # 2020-03-12: the day of the largest dislocations itself
        t = int(np.searchsorted(history.dates, np.datetime64(day)))
        ss = build_scenarios(f, t, fac, cfg)
        b = ss.stress[:, ss.stress.shape[1] - ss.n_basis :]
        assert ss.basis_count == 3 and ss.n_basis == b.shape[1] and ss.n_basis > 0
        assert np.all(b[:2] == 0.0)  # spot and non-basis factors: a pure basis shock
        np.testing.assert_array_equal(b[:, : ss.n_basis // 2], -b[:, ss.n_basis // 2 :])  # mirrored
        d = basis(t)
        for k in (0, 1):  # each perp's 3 largest |basis| up to t (and nothing after t) are in the block
            top = np.sort(np.abs(d[np.isfinite(d[:, k]), k]))[::-1][:3]
            np.testing.assert_allclose(np.sort(np.abs(b[2 + k]))[::-1][: 2 * 3 : 2], top)
        # Core risk of a basis trade: its stressed component is at least the mean of its 3 largest dislocations.
        r_all = np.concatenate([ss.fhs, ss.stress], axis=1)
        loss = -(np.array([1.0, 0.0, -1.0, 0.0]) @ r_all)
        stress = core_risk(loss, ss.fhs.shape[1], MarginConfig(), ss.n_basis, ss.basis_count)[2]
        top0 = np.sort(np.abs(d[np.isfinite(d[:, 0]), 0]))[::-1][:3]
        assert stress >= top0.mean() - 1e-15
    # Off: no block, and a spot-only set never gets one.
    assert build_scenarios(f, t, fac, ScenarioConfig(basis_stress_days=0)).n_basis == 0
    assert build_scenarios(f, t, ["BTC", "ETH"], cfg).n_basis == 0


def test_kupiec_and_christoffersen_known_values() -> None:
    assert kupiec_pof(10, 1000, 0.01) == pytest.approx(1.0)
    # LR for 20/1000 at p = 1 %: 2 * (20 ln 2 + 980 ln(0.98 / 0.99)) = 7.83, chi2(1) p = 0.00515
    assert kupiec_pof(20, 1000, 0.01) == pytest.approx(0.005146, abs=1e-5)
    spread = np.zeros(1000, dtype=bool)
    spread[::100] = True
    clustered = np.zeros(1000, dtype=bool)
    clustered[500:510] = True
    assert christoffersen_ind(spread) > 0.5
    assert christoffersen_ind(clustered) < 1e-6


def test_short_backtest_window_on_real_history(history: PriceHistory) -> None:
    ports = [Portfolio("BTC long", {"BTC": 1.0}), Portfolio("basis", {"BTC": 1.0, "BTC-PERP": -1.0})]
    cfg = ScenarioConfig(lookback_days=500)
    rows, hits = run_backtest(
        history, ports, PROXIES, start=np.datetime64("2022-01-01"), end=np.datetime64("2023-01-01"), scenario_config=cfg
    )
    assert [r.name for r in rows] == ["BTC long", "basis"]
    for r in rows:
        assert r.observations == 365 and r.exceedances == int(hits[r.name].sum())
        assert r.exceedances <= 2 * r.expected + 3
        assert r.mean_im > 0
    assert rows[1].mean_im < 0.1 * rows[0].mean_im  # the hedge is margined as a hedge


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("timestamp,symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


def test_data_quality_gate_rejects_bad_rows_with_their_line(tmp_path: Path) -> None:
    ok = [f"2020-01-{d:02d}T00:00:00Z,X,100,110,90,100,1" for d in range(1, 6)]
    cases = {
        "negative low": (3, "2020-01-03T00:00:00Z,X,100,110,-5,100,1", "open/high/low must be > 0"),
        "close above high": (3, "2020-01-03T00:00:00Z,X,100,110,90,120,1", "OHLC inconsistent"),
        "fat finger": (3, "2020-01-03T00:00:00Z,X,100,1000,90,1000,1", "isolated spike"),
        "duplicate": (3, "2020-01-02T00:00:00Z,X,100,110,90,100,1", "duplicate timestamp"),
    }
    for name, (k, row, msg) in cases.items():
        tail = ok[k - 1 :] if name == "duplicate" else ok[k:]  # a duplicate is inserted, the others replace
        rows = [*ok[: k - 1], row, *tail]
        with pytest.raises(MarketDataError, match=msg) as err:
            load_candles(_csv(tmp_path / f"{name}.csv", rows))
        assert f"{name}.csv:" in str(err.value), name
    # A genuine 5x day that does not revert (DOGE, January 2021) is not a spike.
    up = [*ok[:3], "2020-01-04T00:00:00Z,X,100,520,90,500,1", "2020-01-05T00:00:00Z,X,500,520,400,450,1"]
    assert load_candles(_csv(tmp_path / "up.csv", up)).close[-1, 0] == 450


def test_a_gap_is_spanned_reported_and_never_filled_from_another_series() -> None:
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-05-01"))
    rng = np.random.default_rng(0)
    btc = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, len(dates))))
    eth = 10 * np.exp(np.cumsum(rng.normal(0, 0.04, len(dates))))
    eth_gap = eth.copy()
    eth_gap[60] = np.nan  # a day missing inside ETH's life
    close = np.stack([btc, eth_gap], axis=1)
    h = PriceHistory(dates, ("BTC", "ETH"), close, np.ones_like(close))
    assert gaps(h) == {"ETH": ["2020-03-01"]}
    r = simple_returns(h.close)
    assert np.isnan(r[60, 1]) and r[61, 1] == pytest.approx(eth[61] / eth[59] - 1)
    cfg = ScenarioConfig(lookback_days=60, hypothetical=None)
    f = filter_history(h, {"ETH": "BTC"}, cfg)
    assert np.isnan(f.z[60, 1])  # not BTC's
    s = build_scenarios(f, 100, ["BTC", "ETH"], cfg)
    assert s.fhs.shape[1] == 59  # the gap day left the look-back of both factors


def test_backtest_reports_untested_rows_and_drops_a_delisted_leg_with_a_note() -> None:
    h = load_candles(SPOT, symbols=["BTC", "XMR"])  # XMR is delisted on 2024-02-20
    ports = [
        Portfolio("XMR long", {"XMR": 1.0}),
        Portfolio("BTC long / XMR short", {"BTC": 1.0, "XMR": -0.5}),
        Portfolio("BTC long", {"BTC": 1.0}),
    ]
    cfg = ScenarioConfig(lookback_days=365)
    kw = {"scenario_config": cfg, "end": np.datetime64("2024-06-01")}
    rows, _ = run_backtest(h, ports, {"XMR": "BTC"}, start=np.datetime64("2024-03-01"), **kw)  # type: ignore[arg-type]
    xmr, book, btc = rows
    assert not xmr.tested and xmr.observations == 0 and "XMR 2019-03-15 → 2024-02-20" in xmr.note
    assert book.tested and book.observations == btc.observations  # kept in the test on its BTC leg
    assert book.mean_im == pytest.approx(btc.mean_im)
    rows, _ = run_backtest(h, ports[1:2], {"XMR": "BTC"}, start=np.datetime64("2024-01-01"), **kw)  # type: ignore[arg-type]
    assert rows[0].note == "XMR dropped from 2024-02-20 (no price)"


def test_es_ratio_test_known_answers() -> None:
    var = np.full(1000, 1.0)
    es = np.full(1000, 2.0)
    k = np.arange(1000)
    tail = k % 40 == 0  # 25 tail days
    right = np.where(tail, np.where(k // 40 % 2 == 0, 1.5, 2.5), 0.5)  # 13 x 1.5 and 12 x 2.5
    ratio, p, n = es_ratio_test(right, var, es)
    assert n == 25 and ratio == pytest.approx((13 * 0.75 + 12 * 1.25) / 25) and 0.5 < p < 0.7
    under = np.where(tail, np.where(k // 40 % 2 == 0, 3.5, 4.5), 0.5)  # tail about twice the ES
    ratio, p, _ = es_ratio_test(under, var, es)
    assert ratio > 1.9 and p < 1e-6
    none = es_ratio_test(np.zeros(10), np.ones(10), np.ones(10))
    assert np.isnan(none[0]) and none[1:] == (1.0, 0)


def test_im_rises_known_answer() -> None:
    dates = np.arange(np.datetime64("2020-03-01"), np.datetime64("2020-03-11"))
    im = np.array([1.0, 1.0, 1.1, np.nan, 1.2, 3.0, 3.3, 3.0, 2.0, 2.0])
    r = im_rises(im, dates, "crash", "p")
    assert r.rise_1d == pytest.approx(2.5) and r.day_1d == "2020-03-06"
    assert r.rise_5d == pytest.approx(3.3) and r.day_5d == "2020-03-07"


def test_procyclicality_measures_the_shipped_crashes(history: PriceHistory) -> None:
    rises = procyclicality(history, [Portfolio("BTC long", {"BTC": 1.0})], PROXIES, crashes=CRASHES[-1:])
    (r,) = rises
    assert r.window == "FTX, Nov 2022" and r.rise_1d > 1.2 and r.rise_5d >= r.rise_1d * 0.9
    assert "2022-11-0" in r.day_1d or "2022-11-1" in r.day_1d


def test_stressed_months_are_chosen_from_the_data_without_look_ahead(history: PriceHistory) -> None:
    end = len(history.dates) - 1
    months = [p[0] for p in stress_months(history, end, "BTC", 0.25)]
    assert {"2020-03", "2021-05", "2022-05", "2022-11"} <= set(months)  # the four named crashes
    assert "2023-03" not in months and all(m < "2024-06" for m in months)
    row = int(np.searchsorted(history.dates, np.datetime64("2021-05-20")))
    before = stress_months(history, row, "BTC", 0.25)
    assert before[-1][0] == "2021-01" and ("2020-03", "2020-03-01", "2020-03-31") in before  # May 2021 not over
    assert stress_months(history, end, "NOPE", 0.25) == ()
    # The scenario set reviews them at every build: more months once more crashes are in the past.
    f = filter_history(history, PROXIES, ScenarioConfig())
    late = build_scenarios(f, end, ["BTC"], ScenarioConfig())
    early = build_scenarios(f, row, ["BTC"], ScenarioConfig())
    assert set(early.stress_names) < set(late.stress_names) and "2022-11-mirror" in late.stress_names


def test_rise_cap_on_the_covid_crash(history: PriceHistory) -> None:
    """BTC long in March 2020: the model IM more than doubles in a day, the rise-capped posted IM does not."""
    port = [Portfolio("BTC long", {"BTC": 1.0})]
    (free,) = procyclicality(history, port, PROXIES, crashes=CRASHES[:1])
    (capped,) = procyclicality(history, port, PROXIES, crashes=CRASHES[:1], max_daily_rise=0.25)
    assert capped.rise_1d <= free.rise_1d and capped.rise_1d < 2.0 < free.rise_1d
