"""Add-ons and haircuts on small hand-worked arrays: depth boundaries, zero exposures, untraded instruments,
the numeraire, the haircut cap, and every input check."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.risk.addons import concentration_addon, horizon_multiplier, liquidity_addon, standalone_es
from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import (
    MAX_HAIRCUT,
    CollateralAsset,
    HaircutModel,
    build_haircuts,
    collateral_values,
    haircuts,
    stressed_fall,
)
from offchain.risk.measures import core_measure
from offchain.risk.scenarios import ApcMode, ScenarioSet


def test_horizon_multiplier_is_the_root_of_size_over_depth_from_one() -> None:
    m = horizon_multiplier(np.array([[0.0, 4.0, -9.0, 0.5, 0.0]]), np.array([1.0, 1.0, 1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(m, [[1.0, 2.0, 3.0, np.inf, 1.0]])


def test_standalone_es_uses_the_side_of_each_exposure() -> None:
    es = standalone_es(np.array([[2.0, -3.0, 0.0]]), np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.4, 0.5]))
    np.testing.assert_allclose(es, [[0.2, 1.2, 0.0]])


def test_concentration_addon_worked_example() -> None:
    positions = np.array([[16.0, 0.5], [-81.0, 0.0], [1.0, -1.0]])  # the last row sits exactly at depth
    exposure = positions * 2.0
    es_long, es_short = np.array([0.1, 0.1]), np.array([0.2, 0.2])
    add = concentration_addon(positions, exposure, np.array([1.0, 1.0]), es_long, es_short)
    # Linear in days to liquidate beyond depth: slope 0.5 × (16 / 1 − 1) = 7.5 on ES 32 × 0.1; 0.5 × 80 = 40 on
    # ES 162 × 0.2; the last row, exactly at depth, adds nothing.
    np.testing.assert_allclose(add, [24.0, 1296.0, 0.0])
    assert add.shape == (3,)


def test_concentration_addon_is_zero_within_depth_and_for_zero_exposure_at_zero_depth() -> None:
    within = concentration_addon(np.ones((4, 2)), np.ones((4, 2)), np.array([2.0, 2.0]), np.ones(2), np.ones(2))
    np.testing.assert_array_equal(within, np.zeros(4))
    no_depth = concentration_addon(
        np.array([[2.0], [2.0]]), np.array([[0.0], [5.0]]), np.array([0.0]), np.array([0.1]), np.array([0.1])
    )
    assert no_depth[0] == 0.0 and no_depth[1] == np.inf  # no exposure: nothing, even at infinite ratio


def test_liquidity_addon_worked_example_and_untraded_instruments() -> None:
    prices, half_spread, sigma = np.array([10.0, 20.0]), np.array([0.01, 0.02]), np.array([0.5, 0.1])
    positions = np.array([[4.0, -1.0], [4.0, 0.0]])
    traded = liquidity_addon(positions, prices, half_spread, sigma, np.array([16.0, 25.0]), 1.0)
    # |q| p hs + |q|^1.5 Y p sigma / sqrt(ADV): 0.4 + 0.4 + 8 × 1.25 + 1 × 0.4
    np.testing.assert_allclose(traded, [11.2, 10.4])
    untraded = liquidity_addon(positions, prices, half_spread, sigma, np.array([16.0, 0.0]), 1.0)
    assert untraded[0] == np.inf  # a position in an instrument nobody trades cannot be closed
    np.testing.assert_allclose(untraded[1:], [10.4])
    doubled = liquidity_addon(positions, prices, half_spread, sigma, np.array([16.0, 25.0]), 2.0)
    np.testing.assert_allclose(doubled, [0.8 + 2 * 10.4, 0.4 + 2 * 10.0])


USD, ETH = CollateralAsset("USDC", None), CollateralAsset("ETH", "ETH")
MODEL = HaircutModel((USD, ETH), np.array([0.0, 0.1]), np.array([np.inf, 100.0]))


def test_haircuts_worked_example() -> None:
    hc = haircuts(np.array([[5.0, 50.0], [0.0, 400.0], [1.0, 0.0], [0.0, 100.0]]), MODEL)
    np.testing.assert_allclose(hc, [[0.0, 0.1], [0.0, 1 - 0.9 ** (1 + 0.5 * 3)], [0.0, 0.1], [0.0, 0.1]])


def test_haircuts_are_capped_just_below_one() -> None:
    steep = HaircutModel((ETH,), np.array([0.9999]), np.array([1.0]))
    assert haircuts(np.array([[1.0]]), steep)[0, 0] == MAX_HAIRCUT == 0.999
    assert haircuts(np.array([[0.0]]), HaircutModel((ETH,), np.array([0.5]), np.array([1.0])))[0, 0] == 0.5


@pytest.mark.parametrize(
    "holdings",
    [
        np.array([1.0, 2.0]),
        np.ones((1, 3)),
        np.array([[1.0, -1.0]]),
        np.array([[np.nan, 1.0]]),
        np.array([[np.inf, 0.0]]),
    ],
)
def test_haircuts_refuse_bad_holdings(holdings: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        haircuts(holdings, MODEL)


def test_collateral_value_is_the_haircut_value_summed_per_member() -> None:
    hc, value = collateral_values(np.array([[5.0, 50.0], [0.0, 0.0]]), np.array([1.0, 2_000.0]), MODEL)
    np.testing.assert_allclose(value, [5.0 + 50 * 2_000 * 0.9, 0.0])
    assert hc.shape == (2, 2)


@pytest.mark.parametrize(
    "prices", [np.array([1.0]), np.array([1.0, 0.0]), np.array([1.0, -2.0]), np.array([np.nan, 1.0])]
)
def test_collateral_values_refuse_bad_prices(prices: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="prices"):
        collateral_values(np.ones((1, 2)), prices, MODEL)


def test_collateral_asset_bounds() -> None:
    for horizon, floor in ((0.0, 0.0), (-1.0, 0.0), (2.0, 1.0), (2.0, -0.01)):
        with pytest.raises(ConfigError, match="horizon_days > 0 and floor in"):
            CollateralAsset("X", "X", horizon_days=horizon, floor=floor)
    a = CollateralAsset("X", "X", horizon_days=1e-9, floor=0.0)
    assert (a.horizon_days, a.floor) == (1e-9, 0.0)
    assert CollateralAsset("X", "X").horizon_days == 2.0 and CollateralAsset("X", "X").floor == 0.0


def scenario_set(scale: float = 1.0) -> ScenarioSet:
    """Two factors, 40 FHS and 8 stressed one-day returns, built by hand (no market data)."""
    rng = np.random.default_rng(3)
    fhs = rng.normal(0, 0.02, size=(2, 40)) * scale
    stress = rng.normal(0, 0.06, size=(2, 8)) * scale
    return ScenarioSet(
        asof=np.datetime64("2024-01-02"),
        factors=("ETH", "BTC"),
        fhs=fhs,
        stress=stress,
        stress_label=np.zeros(8, dtype=np.int64),
        stress_names=("s",),
        sigma_now=np.array([0.02, 0.02]),
        depth=np.array([1_000.0, 500.0]),
        price=np.array([2_000.0, 40_000.0]),
    )


def expected_es(s: ScenarioSet, row: int, horizon: float, cfg: MarginConfig) -> float:
    r = np.concatenate([s.fhs[row], s.stress[row]]) * np.sqrt(horizon)
    w, b = (cfg.apc_weight, 0.0) if cfg.apc_mode is ApcMode.STRESSED_WEIGHT else (0.0, cfg.apc_weight)
    return float(core_measure(-r, s.fhs.shape[1], var=False, alpha=cfg.alpha, stressed_weight=w, buffer=b)[0])


def test_build_haircuts_takes_each_assets_es_over_its_horizon_floored_and_capped() -> None:
    s, cfg = scenario_set(), MarginConfig()
    assets = [
        CollateralAsset("USDC", None, floor=0.01),
        CollateralAsset("BTC", "BTC", horizon_days=3.0),
        CollateralAsset("ETH", "ETH", horizon_days=1.0, floor=0.5),
    ]
    m = build_haircuts(s, assets, cfg)
    assert m.assets == tuple(assets)
    # BTC's haircut: the larger of its ES over the horizon and its worst stressed fall over up to 3 days.
    btc = max(expected_es(s, 1, 3.0, cfg), stressed_fall(s, 1, 3.0))
    np.testing.assert_allclose(m.base, [0.01, btc, 0.5])
    assert m.base[1] == stressed_fall(s, 1, 3.0) > expected_es(s, 1, 3.0, cfg)  # the stressed fall binds here
    assert 0.01 < m.base[1] < 0.5
    np.testing.assert_allclose(m.depth, [np.inf, 0.1 * 500.0 * 3.0, 0.1 * 1_000.0 * 1.0])
    wild = build_haircuts(scenario_set(scale=100.0), assets, cfg, cap=0.9)
    assert wild.base[1] == 0.9 and wild.base[2] == 0.9  # the cap binds over the floor too


def test_build_haircuts_with_the_buffer_and_with_var() -> None:
    s = scenario_set()
    buffered = MarginConfig(apc_mode=ApcMode.BUFFER, apc_weight=0.5)
    m = build_haircuts(s, [CollateralAsset("ETH", "ETH")], buffered)
    np.testing.assert_allclose(m.base, [expected_es(s, 0, 2.0, buffered)])
    assert m.base[0] != build_haircuts(s, [CollateralAsset("ETH", "ETH")], MarginConfig()).base[0]
    var = build_haircuts(s, [CollateralAsset("ETH", "ETH")], MarginConfig(measure=Measure.VAR, alpha=0.99))
    assert var.base[0] != m.base[0] and 0 < var.base[0] < 0.95


def test_build_haircuts_cap_must_be_inside_zero_and_one() -> None:
    for cap in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ConfigError, match="cap"):
            build_haircuts(scenario_set(), [USD], MarginConfig(), cap=cap)
    assert build_haircuts(scenario_set(), [USD], MarginConfig(), cap=0.999).base[0] == 0.0


def test_a_single_concentrated_position_and_a_fractional_daily_volume() -> None:
    one = concentration_addon(np.array([[16.0, 0.0]]), np.array([[32.0, 0.0]]), np.ones(2), np.full(2, 0.1), np.ones(2))
    np.testing.assert_allclose(one, [24.0])  # ES 3.2 × 0.5 × (16 − 1)
    thin = liquidity_addon(
        np.array([[4.0]]), np.array([10.0]), np.array([0.01]), np.array([0.5]), np.array([0.25]), 1.0
    )
    np.testing.assert_allclose(thin, [0.4 + 8 * (10 * 0.5 / 0.5)])  # ADV 0.25 trades: finite
