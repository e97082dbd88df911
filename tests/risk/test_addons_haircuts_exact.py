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


def test_concentration_addon_skips_zero_positions_in_an_untraded_instrument() -> None:
    # An untraded instrument has depth 0; a member holding none of it sits exactly at depth (0 = 0) and
    # must be left out, not divided 0 / 0 (the engine runs this over every member and instrument).
    positions = np.array([[0.0, 2.0], [0.0, 0.0]])
    with np.errstate(all="raise"):
        add = concentration_addon(positions, positions * 3.0, np.array([0.0, 1.0]), np.full(2, 0.1), np.full(2, 0.2))
    # the one position beyond depth: ES 6 × 0.1 × 0.5 × (2 / 1 − 1) = 0.3
    np.testing.assert_allclose(add, [0.3, 0.0], rtol=1e-15)


# --- collateral assets: the share cap and tier eligibility --------------------------------------------------


def test_max_share_is_in_zero_exclusive_to_one_inclusive() -> None:
    for share in (0.0, -0.5, 1.5, 1.0 + 1e-9):
        with pytest.raises(ConfigError, match=rf"collateral X: max_share must be in \(0, 1\], got {share}$"):
            CollateralAsset("X", "X", max_share=share)
    assert CollateralAsset("X", "X", max_share=1.0).max_share == 1.0
    assert CollateralAsset("X", "X", max_share=1e-9).max_share == 1e-9
    assert CollateralAsset("X", "X").max_share == 1.0 and CollateralAsset("X", "X").tiers is None


def test_eligibility_by_tier() -> None:
    anyone = CollateralAsset("X", "X")
    assert [anyone.eligible(t) for t in (0, 1, 7)] == [True, True, True]
    some = CollateralAsset("X", "X", tiers=frozenset({0, 2}))
    assert [some.eligible(t) for t in (0, 1, 2, 3)] == [True, False, True, False]
    assert not CollateralAsset("X", "X", tiers=frozenset()).eligible(0)


CAPPED = HaircutModel(
    (CollateralAsset("USDC", None), CollateralAsset("ETH", "ETH", tiers=frozenset({0}), max_share=0.25)),
    np.array([0.0, 0.1]),
    np.array([np.inf, 100.0]),
)


def test_share_cap_binding_not_binding_zero_and_below_one_unit_of_value() -> None:
    holdings = np.array([[100.0, 1.0], [1_000.0, 0.1], [0.0, 0.0], [1.0, 0.0005]])
    hc, value = collateral_values(holdings, np.array([1.0, 1_000.0]), CAPPED)
    # member 0: ETH 900 of 1,000 in all, capped at 250 → haircut 1 − 250 / 1,000;
    # member 1: ETH 90 of 1,090, under the cap 272.5 → the base 0.1;
    # member 2: holds nothing → the base haircuts, value 0;
    # member 3: ETH market 0.5, value 0.45 of 1.45, capped at 0.3625 → haircut 1 − 0.3625 / 0.5.
    np.testing.assert_allclose(hc, [[0.0, 0.75], [0.0, 0.1], [0.0, 0.1], [0.0, 0.275]], rtol=1e-12, atol=0)
    np.testing.assert_allclose(value, [350.0, 1_090.0, 0.0, 1.3625], rtol=1e-12, atol=0)


def test_ineligible_holding_counts_nothing_and_leaves_the_cap_to_the_rest() -> None:
    holdings = np.array([[100.0, 1.0], [100.0, 1.0], [300.0, 0.1]])
    hc, value = collateral_values(holdings, np.array([1.0, 1_000.0]), CAPPED, np.array([1, 0, 1]))
    # tier 1 may not post ETH: haircut 1, value 0 (the cap is then a share of the USDC alone);
    # tier 0 as in the uncapped example: 900 of 1,000 capped at 250.
    np.testing.assert_allclose(hc, [[0.0, 1.0], [0.0, 0.75], [0.0, 1.0]], rtol=1e-12, atol=0)
    np.testing.assert_allclose(value, [100.0, 350.0, 300.0], rtol=1e-12, atol=0)
    everyone = HaircutModel((USD, ETH), np.array([0.0, 0.1]), np.array([np.inf, 100.0]))
    _, all_tiers = collateral_values(holdings, np.array([1.0, 1_000.0]), everyone, np.array([1, 0, 1]))
    np.testing.assert_allclose(all_tiers, [1_000.0, 1_000.0, 390.0], rtol=1e-12, atol=0)


def test_member_tier_must_have_one_entry_per_member() -> None:
    holdings = np.ones((3, 2))
    for tiers in (np.array([0, 0]), np.array([[0, 0, 0]]), np.zeros(4, dtype=np.int64)):
        with pytest.raises(ConfigError, match=r"^member_tier must be \(3,\)$"):
            collateral_values(holdings, np.array([1.0, 1_000.0]), CAPPED, tiers)


def test_without_a_cap_the_haircuts_are_returned_bit_for_bit() -> None:
    # Re-deriving a haircut from the value rounds: 1 − (3 × (1 − h)) / 3 is 0.30000000000000016 for
    # h = 0.30000000000000004; with no asset capped that arithmetic is skipped and h stays as computed.
    model = HaircutModel((ETH,), np.array([0.3]), np.array([np.inf]))
    holdings = np.array([[3.0]])
    hc, value = collateral_values(holdings, np.array([1.0]), model)
    plain = haircuts(holdings, model)
    assert plain[0, 0] == 0.30000000000000004 and hc[0, 0] == plain[0, 0]
    assert value[0] == 3.0 * (1.0 - plain[0, 0])


def test_haircuts_at_zero_depth_and_one_unit() -> None:
    model = HaircutModel((ETH, ETH), np.array([0.2, 0.2]), np.array([0.0, 0.5]))
    hc = haircuts(np.array([[0.0, 1.0], [1.0, 0.0]]), model)
    # nothing held at depth 0: the base; 1 unit at depth 0.5: 1 + 0.5 × (2 − 1) = 1.5 horizons' log-multiplier;
    # 1 unit at depth 0: cannot be sold, capped just below 1.
    np.testing.assert_allclose(hc, [[0.2, 1 - 0.8**1.5], [MAX_HAIRCUT, 0.2]], rtol=1e-15)


# --- the stressed fall on hand-made stressed periods --------------------------------------------------------


def stress_only(days: list[float], labels: list[int], names: tuple[str, ...], n_basis: int = 0) -> ScenarioSet:
    """One factor "A"; ``days`` its stressed one-day returns (the last ``n_basis`` the basis block)."""
    fhs = np.array([[-0.01, 0.02, -0.03, 0.0]])
    return ScenarioSet(
        asof=np.datetime64("2024-01-02"),
        factors=("A",),
        fhs=fhs,
        stress=np.array([days], dtype=np.float64).reshape(1, len(days)),
        stress_label=np.array(labels, dtype=np.int64),
        stress_names=names,
        sigma_now=np.array([0.02]),
        depth=np.array([10.0]),
        price=np.array([1.0]),
        n_basis=n_basis,
    )


def test_stressed_fall_compounds_up_to_ceil_horizon_days() -> None:
    s = stress_only([-0.1, -0.1, -0.1, 0.5], [0, 0, 0, 0], ("p",))
    assert stressed_fall(s, 0, 0.5) == pytest.approx(0.1, rel=1e-12)  # under a day: one day
    assert stressed_fall(s, 0, 1.0) == pytest.approx(0.1, rel=1e-12)
    assert stressed_fall(s, 0, 1.5) == pytest.approx(1 - 0.9**2, rel=1e-12)  # ceil(1.5) = 2 days
    assert stressed_fall(s, 0, 2.0) == pytest.approx(0.19, rel=1e-12)
    assert stressed_fall(s, 0, 3.0) == pytest.approx(1 - 0.9**3, rel=1e-12)
    assert stressed_fall(s, 0, 10.0) == pytest.approx(0.271, rel=1e-12)  # the rebound after: no relief


def test_stressed_fall_a_rebound_within_the_horizon_is_no_relief() -> None:
    s = stress_only([-0.5, 0.5], [0, 0], ("p",))
    assert stressed_fall(s, 0, 2.0) == pytest.approx(0.5, rel=1e-12)  # not 1 − 0.5 × 1.5 = 0.25


def test_stressed_fall_leaves_out_mirrors_and_the_basis_block_and_keeps_one_day_periods() -> None:
    mirrored = stress_only([-0.1, 0.0, -0.4, 0.0], [0, 0, 1, 1], ("p", "p-mirror"))
    assert stressed_fall(mirrored, 0, 2.0) == pytest.approx(0.1, rel=1e-12)
    basis = stress_only([-0.1, -0.2, -0.7, -0.7], [0, 0, 1, 1], ("p", "basis-dislocations"), n_basis=2)
    assert stressed_fall(basis, 0, 1.0) == pytest.approx(0.2, rel=1e-12)
    single = stress_only([-0.3, -0.1, 0.05], [0, 1, 1], ("p", "q"))
    assert stressed_fall(single, 0, 2.0) == pytest.approx(0.3, rel=1e-12)
    # two periods are never joined: the last day of p and the first of q are not a 2-day window
    apart = stress_only([0.0, -0.2, -0.2, 0.1], [0, 0, 1, 1], ("p", "q"))
    assert stressed_fall(apart, 0, 2.0) == pytest.approx(0.2, rel=1e-12)


def test_stressed_fall_of_a_total_loss_stays_below_one_and_of_no_fall_is_zero() -> None:
    wiped = stress_only([-1.0, 0.2], [0, 0], ("p",))
    fall = stressed_fall(wiped, 0, 2.0)
    assert fall < 1.0 and fall == pytest.approx(1 - 1e-12, rel=0, abs=1e-15)
    below = stress_only([-1.5], [0], ("p",))  # a return below −100 % is read as −100 %
    assert stressed_fall(below, 0, 1.0) == fall
    assert stressed_fall(stress_only([0.1, 0.2], [0, 0], ("p",)), 0, 2.0) == 0.0
    assert stressed_fall(stress_only([], [], ()), 0, 2.0) == 0.0


def test_build_haircuts_keeps_the_hypothetical_moves_capped_at_a_total_loss() -> None:
    s = scenario_set()
    hyp = np.array([[-0.5, -1.5, 0.2], [0.1, -0.3, -2.0]])
    with_hyp = ScenarioSet(**{**s.__dict__, "hypothetical": hyp, "hypothetical_names": ("a", "b", "c")})
    m = build_haircuts(with_hyp, [USD, CollateralAsset("BTC", "BTC"), CollateralAsset("ETH", "ETH")], MarginConfig())
    assert m.hypothetical is not None
    np.testing.assert_array_equal(m.hypothetical, [[0.0, 0.0, 0.0], [0.1, -0.3, -1.0], [-0.5, -1.0, 0.2]])
    none = build_haircuts(s, [USD, CollateralAsset("ETH", "ETH")], MarginConfig())
    assert none.hypothetical is not None and none.hypothetical.shape == (2, 0)


def test_build_haircuts_uses_var_when_configured() -> None:
    # Ten FHS days and no stressed period: at alpha 0.8 the VaR and the ES of a 1-day holding differ.
    fhs = np.array([[-0.09, -0.05, -0.04, -0.02, -0.01, 0.0, 0.01, 0.02, 0.03, 0.05]])
    s = ScenarioSet(
        asof=np.datetime64("2024-01-02"),
        factors=("A",),
        fhs=fhs,
        stress=np.zeros((1, 0)),
        stress_label=np.zeros(0, dtype=np.int64),
        stress_names=(),
        sigma_now=np.array([0.02]),
        depth=np.array([10.0]),
        price=np.array([1.0]),
    )
    asset = [CollateralAsset("A", "A", horizon_days=1.0)]
    var_cfg, es_cfg = MarginConfig(measure=Measure.VAR, alpha=0.8), MarginConfig(alpha=0.8)
    var = build_haircuts(s, asset, var_cfg).base[0]
    es = build_haircuts(s, asset, es_cfg).base[0]
    w = var_cfg.apc_weight
    assert var == float(core_measure(-fhs[0], 10, var=True, alpha=0.8, stressed_weight=w, buffer=0.0)[0])
    assert es == float(core_measure(-fhs[0], 10, var=False, alpha=0.8, stressed_weight=w, buffer=0.0)[0])
    assert es == pytest.approx(0.07, rel=1e-12) and var != es  # the mean of the two worst days, 9 % and 5 %
