"""Collateral haircuts, tiers, and the platform view (imbalance, stress losses, Cover 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import MAX_HAIRCUT, CollateralAsset, HaircutModel, collateral_values, haircuts
from offchain.risk.platform import cover2, directional_imbalance, reverse_stress, stress_losses
from offchain.risk.tiers import DEFAULT_TIERS, limit_breaches
from tests.risk.helpers import make_model

HC = HaircutModel(
    (CollateralAsset("USDC", None), CollateralAsset("BTC", "BTC"), CollateralAsset("ALT", "ALT")),
    np.array([0.0, 0.12, 0.6]),
    np.array([np.inf, 1_000.0, 10.0]),
)
HOLD = arrays(np.float64, (4, 3), elements=st.floats(0, 1e12, allow_subnormal=False))


@settings(max_examples=200, deadline=None)
@given(HOLD)
def test_haircuts_in_unit_interval(h: np.ndarray) -> None:
    hc = haircuts(h, HC)
    assert np.all(hc >= 0) and np.all(hc < 1) and np.all(hc <= MAX_HAIRCUT)
    assert np.all(hc >= HC.base - 1e-15)
    np.testing.assert_array_equal(hc[:, 0], 0.0)  # the numeraire has none


def test_haircut_grows_with_holding_beyond_depth_only() -> None:
    h = np.zeros((5, 3))
    h[:, 1] = [1.0, 1_000.0, 2_000.0, 16_000.0, 1e9]
    hc = haircuts(h, HC)[:, 1]
    assert hc[0] == hc[1] == pytest.approx(0.12)
    assert hc[3] == pytest.approx(1 - 0.88**8.5)  # 1 + 0.5 * (16,000 / 1,000 - 1) = 8.5 (linear in days)
    assert np.all(np.diff(hc[1:]) > 0)


def test_collateral_value_known_answer() -> None:
    _, value = collateral_values(np.array([[1_000.0, 2.0, 0.0]]), np.array([1.0, 60_000.0, 5.0]), HC)
    assert value[0] == pytest.approx(1_000 + 2 * 60_000 * 0.88)
    with pytest.raises(ConfigError):
        haircuts(np.array([[-1.0, 0.0, 0.0]]), HC)


def test_position_limits_by_tier() -> None:
    q = np.array([[3_000.0, 0.0], [3_000.0, 0.0], [-500.0, 2.0]])
    b = limit_breaches(q, DEFAULT_TIERS, np.array([0, 1, 2]), np.array([1_000.0, 1.0]))
    np.testing.assert_array_equal(b, [[False, False], [True, False], [False, True]])


def test_directional_imbalance() -> None:
    q = np.array([[10.0, 0.0], [5.0, -1.0], [-15.0, 1.0]])
    imb = directional_imbalance(q, np.array([2.0, 100.0]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(imb.net, [[30.0, -100.0], [-30.0, 100.0]])
    np.testing.assert_allclose(imb.one_sided, [[1.0, -1.0], [-1.0, 1.0]])
    np.testing.assert_allclose(imb.platform_one_sided, [0.0, 0.0])  # every long has a short


def test_cover2_known_answer() -> None:
    losses = np.array([[50.0, 10.0], [30.0, 80.0], [5.0, 70.0], [100.0, 0.0]])
    im = np.array([20.0, 30.0, 10.0, 95.0])
    # excess: s0 = [30, 0, 0, 5] -> 35; s1 = [0, 50, 60, 0] -> 110
    df = cover2(losses, im, np.ones(4), 6)
    assert df.size == pytest.approx(110.0) and df.scenario == 1
    np.testing.assert_array_equal(df.members, [1, 2])
    # contributions pro rata to each member's worst excess: 30, 50, 60, 5
    np.testing.assert_allclose(df.contributions, 110.0 * np.array([30, 50, 60, 5]) / 145)
    assert df.contribution_units.sum() >= 110_000_000


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (6, 5), elements=st.floats(-1e6, 1e6)), arrays(np.float64, 6, elements=st.floats(0, 1e6)))
def test_cover2_equals_two_largest_excesses(losses: np.ndarray, im: np.ndarray) -> None:
    df = cover2(losses, im, np.ones(6), 2)
    excess = np.maximum(losses - im[:, None], 0)
    brute = max(sum(sorted(excess[:, k])[-2:]) for k in range(5))
    assert df.size == pytest.approx(brute)
    assert df.contribution_units.sum() >= df.size * 100 - 1e-6
    assert np.all(df.contributions >= 0)


def test_stress_losses_use_stressed_block() -> None:
    model = make_model(config=MarginConfig())
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
    sl = stress_losses(q, np.ones(3), model)
    np.testing.assert_allclose(sl.by_scenario[0], -model.returns[0, model.n_fhs :])
    np.testing.assert_allclose(sl.by_scenario[1], 2 * model.returns[2, model.n_fhs :])
    assert sl.by_period.shape == (2, 2) and sl.periods == ("p0", "p1")
    np.testing.assert_allclose(sl.by_period.max(axis=1), sl.by_scenario.max(axis=1))


def test_reverse_stress_finds_the_smallest_shock_that_exhausts_the_fund() -> None:
    prices = np.array([100.0, 50.0])
    q = np.array([[10.0, 0.0], [0.0, 20.0], [1.0, 0.0]])  # $1,000 long of each for two members, $100 for one
    im = np.array([100.0, 100.0, 10.0])
    crash = np.array([-0.5, -0.5])
    r = reverse_stress(q, prices, im, 600.0, crash, "hyp:crash")
    # At k the two big members lose 1,000 * 0.5 k each: 2 * (500 k - 100) = 600 at k = 0.8.
    assert r.scale == pytest.approx(0.8, abs=1e-3) and r.members.tolist() == [0, 1] and r.excess > 600
    assert reverse_stress(q, prices, im, 600.0, crash, "x", max_scale=0.7).scale == float("inf")
    # A price falls at most to zero: no multiple of the crash takes more than the notional.
    assert reverse_stress(q, prices, im, 1_900.0, crash, "x").scale == float("inf")
    with pytest.raises(ConfigError):
        reverse_stress(q[:1], prices, im[:1], 1.0, crash, "x")


@settings(deadline=None)  # a correctness property, not a timing one: a loaded machine is no failure
@given(fund=st.floats(0, 5_000), scale=st.floats(0.1, 3))
def test_reverse_stress_scale_is_the_threshold(fund: float, scale: float) -> None:
    prices = np.array([100.0, 50.0])
    q = np.array([[10.0, -5.0], [-8.0, 20.0], [3.0, 3.0]])
    im = np.array([50.0, 80.0, 10.0])
    moves = np.array([-0.3, 0.4])
    r = reverse_stress(q, prices, im, fund, moves, "x", tol=1e-6)

    def top2(k: float) -> float:
        ex = np.maximum(-((q * prices) @ np.maximum(k * moves, -1.0)) - im, 0.0)
        return float(np.sort(ex)[-2:].sum())

    if np.isfinite(r.scale):
        assert top2(r.scale) > fund >= top2(max(r.scale - 1e-5, 0.0)) - 1e-9
    else:
        assert top2(10.0) <= fund
