"""Initial margin: known answers and properties (netting, homogeneity, add-ons, rounding)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import CollateralAsset, HaircutModel
from offchain.risk.instruments import Instrument, Kind, Universe, VenueMap, net_positions
from offchain.risk.margin import MarginBook, MarginResult, RiskModel, build_model, compute_margin, portfolio_im
from offchain.risk.scenarios import ApcMode, ScenarioSet
from tests.risk.helpers import make_model

CFG = MarginConfig()
MODEL = make_model()
PRICES = np.array([100.0, 101.0, 50.0])
CASH = HaircutModel((CollateralAsset("USDC", None),), np.zeros(1), np.full(1, np.inf))

# Positions well inside depth (1,000 units) unless a test says otherwise.
POS = arrays(np.float64, 3, elements=st.floats(-500, 500, allow_subnormal=False))


def _im(q: np.ndarray, model: RiskModel = MODEL, cfg: MarginConfig = CFG) -> float:
    core, _, _, conc, liq = portfolio_im(np.atleast_2d(q), PRICES, model, cfg)
    return float(core[0] + conc[0] + liq[0])


def _core(q: np.ndarray) -> float:
    return float(portfolio_im(np.atleast_2d(q), PRICES, MODEL, CFG)[0][0])


def _margin(q: np.ndarray, cash: float = 0.0, tier: int = 0) -> MarginResult:
    m = q.shape[0]
    return compute_margin(
        q, PRICES, np.full((m, 1), cash), np.ones(1), np.full(m, tier, dtype=np.int64), MODEL, CASH, CFG
    )


def test_zero_position_zero_margin() -> None:
    r = compute_margin(
        np.zeros((4, 3)), PRICES, np.zeros((4, 1)), np.ones(1), np.zeros(4, dtype=np.int64), MODEL, CASH, CFG
    )
    for arr in (r.im, r.mm, r.es_core, r.concentration_addon, r.liquidity_addon, r.collateral_value):
        np.testing.assert_array_equal(arr, 0.0)
    np.testing.assert_array_equal(r.im_units, 0)


def test_known_answer_single_instrument() -> None:
    # One instrument, 100 FHS scenarios with returns -1%..-100%/100 steps, 40 stressed scenarios.
    fhs = -np.arange(1.0, 101.0) / 1000.0  # worst: -0.100, -0.099, -0.098
    stress = -np.arange(1.0, 41.0) / 100.0  # worst 1 of 40 at 97.5 %: -0.40
    r = np.concatenate([fhs, stress])[None, :]
    model = RiskModel(
        Universe((Instrument("X", Kind.SPOT, "X", 1.0, 0.001, None),)),
        r,
        100,
        np.zeros(1),
        np.zeros(1),
        np.array([0.02]),
        np.array([1e6]),
        np.array([1e5]),
        np.zeros(40, dtype=np.int64),
        ("p",),
    )
    q, p = np.array([[10.0]]), np.array([200.0])  # notional 2,000
    core, fhs_es, st_es, conc, liq = portfolio_im(q, p, model, CFG)
    assert fhs_es[0] == pytest.approx(2000 * 0.0992)
    assert st_es[0] == pytest.approx(2000 * 0.40)
    assert core[0] == pytest.approx(0.75 * 2000 * 0.0992 + 0.25 * 800)
    assert conc[0] == 0.0  # 10 units << depth 1e5
    # liquidity: 2,000 * (0.001 + 1.0 * 0.02 * sqrt(10 / 1e6))
    assert liq[0] == pytest.approx(2000 * (0.001 + 0.02 * np.sqrt(1e-5)))
    var = portfolio_im(q, p, model, MarginConfig(measure=Measure.VAR, alpha=0.99, apc_weight=0.0))[0]
    assert var[0] == pytest.approx(2000 * 0.100)


@settings(max_examples=100, deadline=None)
@given(POS)
def test_im_non_negative_and_mm_fraction(q: np.ndarray) -> None:
    r = _margin(q[None, :])
    assert r.im[0] >= 0
    assert r.mm[0] == pytest.approx(CFG.mm_fraction * r.im[0])


@settings(max_examples=100, deadline=None)
@given(POS, st.floats(0.1, 10))
def test_core_positively_homogeneous(q: np.ndarray, c: float) -> None:
    assert _core(c * q) == pytest.approx(c * _core(q), rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(POS, POS)
def test_core_subadditive_across_members(a: np.ndarray, b: np.ndarray) -> None:
    assert _core(a + b) <= _core(a) + _core(b) + 1e-7


@settings(max_examples=100, deadline=None)
@given(POS, POS)
def test_netting_a_hedge_never_raises_im(a: np.ndarray, b: np.ndarray) -> None:
    hedge = -np.sign(a) * np.abs(b)  # each instrument of b opposite to a
    assert _im(a + hedge) <= _im(a) + _im(hedge) + 1e-7


@settings(max_examples=100, deadline=None)
@given(POS, st.floats(0.0, 5.0))
def test_same_direction_legs_never_below_the_larger(a: np.ndarray, c: float) -> None:
    # Two legs that do not offset (the second a positive multiple of the first, e.g. the same trades on
    # two venues): the combined IM is at least each leg's.
    assert _im(a + c * a) >= max(_im(a), _im(c * a)) - 1e-7


def test_cross_venue_netting_equals_single_net_position() -> None:
    universe = MODEL.universe
    venues = VenueMap({("dex", "BTC-PERP"): "X0", ("cex", "BTCUSDT"): "X0", ("cex", "ETHUSDT"): "X2"})
    fills = [
        (0, "dex", "BTC-PERP", 5.0),
        (0, "cex", "BTCUSDT", -3.0),
        (1, "cex", "ETHUSDT", 2.0),
        (1, "dex", "BTC-PERP", -1.0),
    ]
    idx = np.array([venues.resolve(universe, v, s) for _, v, s, _ in fills], dtype=np.int64)
    members = np.array([f[0] for f in fills], dtype=np.int64)
    qty = np.array([f[3] for f in fills])
    q = net_positions(2, members, idx, qty, len(universe))
    np.testing.assert_array_equal(q, [[2.0, 0.0, 0.0], [-1.0, 0.0, 2.0]])
    direct = _margin(np.array([[2.0, 0.0, 0.0], [-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(_margin(q).im, direct.im)
    with pytest.raises(ConfigError):
        venues.resolve(universe, "otc", "BTC")


def test_offsets_come_from_scenarios() -> None:
    # X1 tracks X0 (correlated scenarios): long X0 / short X1 needs far less than either leg alone.
    hedged = _core(np.array([100.0, -100.0 * PRICES[0] / PRICES[1], 0.0]))
    assert hedged < 0.2 * _core(np.array([100.0, 0.0, 0.0]))


def test_concentration_addon_zero_within_depth_and_monotone_beyond() -> None:
    sizes = np.array([0.0, 10.0, 999.0, 1_000.0, 2_000.0, 10_000.0, 100_000.0])
    q = np.zeros((len(sizes), 3))
    q[:, 0] = sizes
    conc = portfolio_im(q, PRICES, MODEL, CFG)[3]
    np.testing.assert_array_equal(conc[:4], 0.0)
    assert np.all(np.diff(conc[3:]) > 0)
    # IM per unit grows with size once concentrated.
    im = np.array([_im(row) for row in q[3:]]) / sizes[3:]
    assert np.all(np.diff(im) > 0)


def test_shallower_market_raises_margin() -> None:
    q = np.array([5_000.0, 0.0, -3_000.0])
    assert _im(q, make_model(depth=100.0)) > _im(q, make_model(depth=1_000.0)) > _im(q, make_model(depth=1e9))


@settings(max_examples=50, deadline=None)
@given(POS)
def test_small_positions_carry_only_spread_cost(q: np.ndarray) -> None:
    tiny = q * 1e-9
    _, _, _, conc, liq = portfolio_im(tiny[None, :], PRICES, MODEL, CFG)
    assert conc[0] == 0.0
    spread = float(np.abs(tiny * PRICES) @ MODEL.universe.half_spreads())
    assert spread * (1 - 1e-12) <= liq[0] <= spread * (1 + 1e-3) + 1e-15


def test_tiers_scale_im_and_rounding_is_conservative() -> None:
    q = np.array([[300.0, -50.0, 20.0]] * 3)
    r = compute_margin(q, PRICES, np.full((3, 1), 1234.5678919), np.ones(1), np.array([0, 1, 2]), MODEL, CASH, CFG)
    assert r.im[1] == pytest.approx(1.1 * r.im[0]) and r.im[2] == pytest.approx(1.25 * r.im[0])
    assert np.all(r.im_units >= r.im * 1e6) and np.all(r.im_units - 1 < r.im * 1e6)
    assert np.all(r.mm_units >= r.mm * 1e6)
    np.testing.assert_array_equal(r.collateral_units, 1_234_567_891)  # rounded down
    np.testing.assert_array_equal(r.excess_units, r.collateral_units - r.im_units)
    with pytest.raises(ConfigError):
        compute_margin(q, PRICES, np.zeros((3, 1)), np.ones(1), np.array([0, 1, 3]), MODEL, CASH, CFG)


def test_es_core_at_least_var_core_same_level() -> None:
    q = np.random.default_rng(1).normal(0, 200, size=(50, 3))
    es = portfolio_im(q, PRICES, MODEL, MarginConfig(alpha=0.975))[0]
    var = portfolio_im(q, PRICES, MODEL, MarginConfig(measure=Measure.VAR, alpha=0.975))[0]
    assert np.all(es >= var - 1e-9)


def test_buffer_mode_is_125_percent_of_fhs() -> None:
    q = np.array([[100.0, 0.0, -40.0]])
    core, fhs, _, _, _ = portfolio_im(q, PRICES, MODEL, MarginConfig(apc_mode=ApcMode.BUFFER, apc_weight=0.25))
    assert core[0] == pytest.approx(1.25 * fhs[0])


def test_incremental_book_matches_full_recompute() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(0, 300, size=(20, 3))
    book = MarginBook(q, PRICES, MODEL, CFG)
    for member, inst, dq in [(4, 0, 25.0), (4, 2, -700.0), (19, 1, 3_000.0)]:
        got = book.apply_fill(member, inst, dq)
        q[member, inst] += dq
        assert got == pytest.approx(_im(q[member]), rel=1e-9)


def test_build_model_scales_by_sqrt_horizon() -> None:
    fhs = np.array([[-0.1, 0.05, 0.0, 0.02] * 10, [-0.1, 0.05, 0.0, 0.02] * 10])
    ss = ScenarioSet(
        np.datetime64("2024-01-01"),
        ("A", "B"),
        fhs,
        np.zeros((2, 0)),
        np.zeros(0, dtype=np.int64),
        (),
        np.array([0.02, 0.02]),
        np.array([100.0, 100.0]),
        np.array([1.0, 1.0]),
    )
    uni = Universe((Instrument("A1", Kind.SPOT, "A", 1.0), Instrument("B4", Kind.SPOT, "B", 4.0)))
    m = build_model(ss, uni, CFG)
    np.testing.assert_allclose(m.returns[1], 2.0 * m.returns[0])
    np.testing.assert_allclose(m.depth, [CFG.participation * 100, CFG.participation * 400])
    assert m.es_long[1] == pytest.approx(2 * m.es_long[0])


def test_shape_errors() -> None:
    with pytest.raises(ConfigError):
        portfolio_im(np.zeros((2, 4)), PRICES, MODEL, CFG)
    with pytest.raises(ConfigError):
        portfolio_im(np.zeros((2, 3)), np.array([1.0, -1.0, 1.0]), MODEL, CFG)


def test_an_amount_beyond_the_unit_range_fails_for_that_member_only() -> None:
    """$20B of IM is converted exactly (it used to abort every member); an infinite add-on (a position in
    an instrument that never trades) fails for its member alone, with a clear message."""
    small = np.array([[10.0, 0.0, 0.0]])
    huge = np.array([[10.0, 0.0, 0.0], [4e9, 0.0, 0.0]])  # 4e9 units at 100: ~$2e10 of IM
    deep = replace(MODEL, depth=np.full(3, 1e10), adv=np.full(3, 1e11))  # within depth: no concentration
    r = compute_margin(huge, PRICES, np.zeros((2, 1)), np.ones(1), np.zeros(2, dtype=np.int64), deep, CASH, CFG)
    alone = compute_margin(small, PRICES, np.zeros((1, 1)), np.ones(1), np.zeros(1, dtype=np.int64), deep, CASH, CFG)
    assert r.unrepresentable == ()
    assert r.im_units[0] == alone.im_units[0]
    assert r.im_units[1] >= r.im[1] * 10**6 > 2**53
    dead = replace(MODEL, adv=np.array([1e4, 1e4, 0.0]))  # instrument 2 has no traded volume
    q = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    r = compute_margin(q, PRICES, np.zeros((3, 1)), np.ones(1), np.zeros(3, dtype=np.int64), dead, CASH, CFG)
    assert r.unrepresentable == (1,)
    assert r.im_units[1] == 0 and r.im_units[0] > 0 and r.im_units[2] > 0
    assert r.unit_error(0) is None
    msg = r.unit_error(1)
    assert msg is not None and "member row 1" in msg and "IM inf" in msg


def test_concentration_addon_is_linear_in_days_to_liquidate_beyond_depth() -> None:
    """Known answer: half a stand-alone ES per extra horizon of liquidation (depth 1,000 units)."""
    q = np.zeros((3, 3))
    q[:, 0] = [2_000.0, 11_000.0, 21_000.0]
    conc = portfolio_im(q, PRICES, MODEL, CFG)[3]
    es = q[:, 0] * PRICES[0] * MODEL.es_long[0]
    np.testing.assert_allclose(conc, es * 0.5 * (q[:, 0] / 1_000.0 - 1.0))
    # Per unit of position, the add-on grows linearly with the days beyond depth (equal steps of 10 days).
    per_unit = conc / q[:, 0]
    assert per_unit[2] - per_unit[1] == pytest.approx((per_unit[1] - per_unit[0]) * 10 / 9)


def test_a_perp_without_its_own_series_carries_a_gross_basis_addon() -> None:
    base = Instrument("X0", Kind.PERP, "F0", 1.0, 0.0005, None)
    assert base.basis_addon == 0.0
    charged = replace(MODEL, universe=Universe((replace(base, basis_addon=0.02), *MODEL.universe.instruments[1:])))
    q = np.array([[3.0, -3.0, 0.0]])  # a near-perfect hedge of instrument 0 by instrument 1
    with_addon = portfolio_im(q, PRICES, charged, CFG)[4][0]
    without = portfolio_im(q, PRICES, MODEL, CFG)[4][0]
    assert with_addon - without == pytest.approx(0.02 * 3.0 * PRICES[0])  # on the gross perp notional, not offset
