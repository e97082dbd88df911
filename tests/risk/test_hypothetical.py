"""Hypothetical stress scenarios (offchain/risk/hypothetical.py) and their place in stress losses and Cover 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import CollateralAsset, HaircutModel
from offchain.risk.hypothetical import DEFAULT_CLASSES, HypotheticalConfig, ShockClass, hypothetical_scenarios
from offchain.risk.instruments import Instrument, Kind, Universe
from offchain.risk.margin import build_model, compute_margin
from offchain.risk.marketdata import load_candles, merge
from offchain.risk.platform import cover2, stress_losses
from offchain.risk.scenarios import STRESS_PERIODS, ScenarioConfig, ScenarioSet, build_scenarios, filter_history
from tests.risk.helpers import make_model

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
CFG = MarginConfig()


def test_default_scenarios_known_answer() -> None:
    m, names = hypothetical_scenarios(["BTC", "BTC-PERP", "SOL", "PAXG"], HypotheticalConfig())
    assert names == (
        "hyp:BTC-down",
        "hyp:BTC-up",
        "hyp:SOL-down",
        "hyp:SOL-up",
        "hyp:PAXG-down",
        "hyp:PAXG-up",
        "hyp:crash",
        "hyp:squeeze",
    )
    expected = np.array(
        [
            # BTC-  BTC+   SOL-   SOL+  PAXG- PAXG+  crash  squeeze
            [-0.50, 0.30, 0.0, 0.0, 0.0, 0.0, -0.50, 0.30],  # BTC: major, down 50 %, up 30 %
            [-0.55, 0.35, 0.0, 0.0, 0.0, 0.0, -0.55, 0.35],  # BTC-PERP: + 5 % basis in the same direction
            [0.0, 0.0, -0.60, 1.50, 0.0, 0.0, -0.60, 1.50],  # SOL: the default (alt) class
            [0.0, 0.0, 0.0, 0.0, -0.15, 0.15, -0.15, 0.15],  # PAXG: asset-backed
        ]
    )
    np.testing.assert_allclose(m, expected)
    assert hypothetical_scenarios(["BTC"], HypotheticalConfig(single_asset=False))[1] == ("hyp:crash", "hyp:squeeze")
    assert hypothetical_scenarios(["BTC"], HypotheticalConfig(single_asset=False, market=False))[0].shape == (1, 0)


shock = st.builds(
    lambda d, u, b: (d, u, b),
    st.floats(0.01, 0.8),
    st.floats(0.01, 5.0),
    st.floats(0.0, 0.19),
)
factor_names = st.lists(
    st.sampled_from(["BTC", "ETH", "BTC-PERP", "ETH-PERP", "SOL", "SOL-PERP", "DOGE"]),
    min_size=1,
    max_size=7,
    unique=True,
)


@settings(max_examples=150, deadline=None)
@given(factor_names, shock, shock)
def test_scenario_structure(
    factors: list[str], major: tuple[float, float, float], other: tuple[float, float, float]
) -> None:
    cfg = HypotheticalConfig((ShockClass("major", *major, assets=("BTC", "ETH")), ShockClass("alt", *other)))
    m, names = hypothetical_scenarios(factors, cfg)
    unders = list(dict.fromkeys(f.removesuffix("-PERP") for f in factors))
    assert m.shape == (len(factors), 2 * len(unders) + 2) and len(names) == m.shape[1]
    assert np.all(m >= -1.0)  # no price below zero
    single, crash, squeeze = m[:, :-2], m[:, -2], m[:, -1]
    # One underlying per single-asset scenario; together they make up the market-wide ones.
    np.testing.assert_allclose(single[:, 0::2].sum(axis=1), crash)
    np.testing.assert_allclose(single[:, 1::2].sum(axis=1), squeeze)
    for j, f in enumerate(factors):
        d, u, b = major if f.removesuffix("-PERP") in ("BTC", "ETH") else other
        extra = b if f.endswith("-PERP") else 0.0
        assert crash[j] == pytest.approx(-(d + extra)) and squeeze[j] == pytest.approx(u + extra)
        assert np.count_nonzero(single[j]) == 2


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        HypotheticalConfig((ShockClass("a", 0.5, 0.5, 0.0, ("BTC",)),))  # no default class
    with pytest.raises(ConfigError):
        HypotheticalConfig((ShockClass("a", 0.5, 0.5, 0.0), ShockClass("b", 0.5, 0.5, 0.0)))  # two defaults
    with pytest.raises(ConfigError):
        HypotheticalConfig((ShockClass("a", 0.98, 0.5, 0.05),))  # down + basis > 100 %
    with pytest.raises(ConfigError):
        HypotheticalConfig(
            (
                ShockClass("a", 0.5, 0.5, 0.0, ("BTC",)),
                ShockClass("b", 0.5, 0.5, 0.0, ("BTC",)),
                ShockClass("c", 0.5, 0.5, 0.0),
            )
        )  # BTC twice
    assert HypotheticalConfig().class_of("DOGE").name == "alt"
    assert [c.name for c in DEFAULT_CLASSES] == ["major", "asset-backed", "alt"]


def _tiny_model(hyp: HypotheticalConfig | None) -> tuple[ScenarioSet, Universe]:
    """Two factors (BTC, BTC-PERP), calm FHS, an empty historical stressed block (as before any crisis)."""
    fhs = np.array([[-0.02, 0.01, 0.0, 0.015] * 10, [-0.021, 0.011, 0.0, 0.014] * 10])
    fac = ("BTC", "BTC-PERP")
    h, names = hypothetical_scenarios(fac, hyp) if hyp is not None else (None, ())
    ss = ScenarioSet(
        np.datetime64("2020-03-01"),
        fac,
        fhs,
        np.zeros((2, 0)),
        np.zeros(0, dtype=np.int64),
        (),
        np.array([0.02, 0.02]),
        np.array([1e6, 1e6]),
        np.array([1.0, 1.0]),
        hypothetical=h,
        hypothetical_names=names,
    )
    uni = Universe((Instrument("BTC", Kind.SPOT, "BTC", 1.0), Instrument("BTC-USD-PERP", Kind.PERP, "BTC-PERP", 1.0)))
    return ss, uni


def test_cover2_known_answer_with_no_history_and_margin_unchanged() -> None:
    ss, uni = _tiny_model(HypotheticalConfig())
    model = build_model(ss, uni, CFG)
    bare = build_model(_tiny_model(None)[0], uni, CFG)
    # members: long 100 perp, long 60 spot, short 50 perp, basis (long 40 spot / short 40 perp)
    q = np.array([[0.0, 100.0], [60.0, 0.0], [0.0, -50.0], [40.0, -40.0]])
    p = np.ones(2)
    hold = np.zeros((4, 1))
    r = compute_margin(q, p, hold, np.ones(1), np.zeros(4, dtype=np.int64), model, _no_haircuts(), CFG)
    r0 = compute_margin(q, p, hold, np.ones(1), np.zeros(4, dtype=np.int64), bare, _no_haircuts(), CFG)
    np.testing.assert_array_equal(r.im, r0.im)  # hypothetical scenarios never enter the margin
    sl = stress_losses(q, p, model)
    assert sl.n_hypothetical == 4 and sl.periods == ("hyp:BTC-down", "hyp:BTC-up", "hyp:crash", "hyp:squeeze")
    # crash: perp -55 %, spot -50 %; squeeze: perp +35 %, spot +30 %
    np.testing.assert_allclose(sl.by_scenario[:, 2], [55.0, 30.0, -27.5, -2.0])
    np.testing.assert_allclose(sl.by_scenario[:, 3], [-35.0, -18.0, 17.5, 2.0])
    assert stress_losses(q, p, bare).by_scenario.shape == (4, 0)  # history alone: nothing to size on
    im = np.array([5.0, 3.0, 2.5, 0.5])
    df = cover2(sl.by_scenario, im, np.ones(4), 6)
    # crash excesses 50, 27, 0, 0 -> 77 (squeeze: 0, 0, 15, 1.5 -> 16.5)
    assert df.size == pytest.approx(77.0) and sl.periods[df.scenario] in ("hyp:BTC-down", "hyp:crash")
    np.testing.assert_array_equal(df.members, [0, 1])
    np.testing.assert_allclose(df.contributions, 77.0 * np.array([50, 27, 15, 1.5]) / 93.5)


def _no_haircuts() -> HaircutModel:
    return HaircutModel((CollateralAsset("USDC", None),), np.zeros(1), np.array([np.inf]))


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (5, 3), elements=st.floats(-1e6, 1e6)), arrays(np.float64, 5, elements=st.floats(0, 1e6)))
def test_hypothetical_scenarios_only_add_to_cover2(q: np.ndarray, im: np.ndarray) -> None:
    base = make_model(n_instruments=3)
    hyp = np.array([[-0.5, 0.3, -0.5], [-0.55, 0.35, -0.5], [-0.6, 1.5, 0.2]])
    model = dataclasses.replace(base, hypothetical=hyp, hypothetical_names=("a", "b", "c"))
    p = np.array([1.0, 2.0, 0.5])
    hist = stress_losses(q, p, base)
    both = stress_losses(q, p, model)
    k = hist.by_scenario.shape[1]
    np.testing.assert_array_equal(both.by_scenario[:, :k], hist.by_scenario)
    np.testing.assert_allclose(both.by_scenario[:, k:], -((q * p) @ hyp))
    assert both.by_period.shape == (5, len(hist.periods) + 3) and both.periods == (*hist.periods, "a", "b", "c")
    f_hist = cover2(hist.by_scenario, im, np.ones(5), 6).size
    f_both = cover2(both.by_scenario, im, np.ones(5), 6).size
    assert f_both >= f_hist  # a floor, never a reduction
    h_only = np.maximum(both.by_scenario[:, k:] - im[:, None], 0.0)
    assert f_both == pytest.approx(max(f_hist, max(np.sort(h_only[:, j])[-2:].sum() for j in range(3))))


def test_real_data_march_2020_fund_is_no_longer_zero() -> None:
    """As of 1 March 2020 no stressed period has ended: Cover 2 on history alone is (nearly) zero; with the
    hypothetical scenarios it covers two retail-style long books losing 55 % (perps) beyond their IM."""
    hist = merge(
        load_candles(DATA / "binance-spot-daily.csv.gz", symbols=["BTC", "ETH"]),
        load_candles(DATA / "binance-usdm-perp-hourly.csv.gz", suffix="-PERP"),
    )
    fac = ["BTC", "ETH", "BTC-PERP", "ETH-PERP"]
    prox = {"ETH": "BTC", "BTC-PERP": "BTC", "ETH-PERP": "ETH"}
    uni = Universe(tuple(Instrument(f, Kind.PERP if f.endswith("PERP") else Kind.SPOT, f, 1.0) for f in fac))
    t = int(np.searchsorted(hist.dates, np.datetime64("2020-03-01")))
    p = hist.close[t, [hist.index(f) for f in fac]]
    usd = np.array([[0.0, 0.0, 40e6, 20e6], [0.0, 0.0, 60e6, 30e6], [25e6, 10e6, -25e6, -10e6], [0, 0, 0, -6e6]])
    q = usd / p
    funds = []
    named = STRESS_PERIODS  # the named crashes as a fixed list: none has ended by 1 March 2020
    for cfg in (ScenarioConfig(hypothetical=None, stress_periods=named), ScenarioConfig(stress_periods=named)):
        model = build_model(build_scenarios(filter_history(hist, prox, cfg), t, fac, cfg), uni, CFG)
        r = compute_margin(q, p, np.zeros((4, 1)), np.ones(1), np.zeros(4, dtype=np.int64), model, _no_haircuts(), CFG)
        sl = stress_losses(q, p, model)
        funds.append((cover2(sl.by_scenario, r.im, np.ones(4), 6).size, r.im, sl))
    (f0, im0, sl0), (f1, im1, sl1) = funds
    np.testing.assert_array_equal(im0, im1)
    assert set(sl0.periods) == {"basis-dislocations", "basis-dislocations-mirror"}  # no period ended yet
    assert f0 < 1e5
    crash = sl1.periods.index("hyp:crash")
    np.testing.assert_allclose(sl1.by_period[:2, crash], [0.55 * 60e6, 0.55 * 90e6])
    assert f1 == pytest.approx(0.55 * 150e6 - im1[0] - im1[1])
