"""Tail measures on the losses 1..10, worked by hand: ES with a fractional tail, VaR's conservative quantile,
the worst-k mean, the scenario split's checks, the stressed and basis blocks, and the P&L path in blocks."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.risk.errors import ConfigError
from offchain.risk.measures import core_measure, core_measure_pnl, expected_shortfall, value_at_risk, worst_mean

LOSSES = np.array([3.0, 9.0, 1.0, 10.0, 5.0, 2.0, 8.0, 4.0, 7.0, 6.0])  # 1..10, shuffled
TINY = 1e-12


def test_expected_shortfall_with_a_fractional_tail() -> None:
    assert expected_shortfall(LOSSES, 0.75) == pytest.approx((10 + 9 + 0.5 * 8) / 2.5)  # n = 2.5
    assert expected_shortfall(LOSSES, 0.9) == 10.0  # n = 1: the worst loss
    assert expected_shortfall(LOSSES, 0.8) == 9.5  # n = 2
    assert expected_shortfall(LOSSES, 0.85) == pytest.approx((10 + 0.5 * 9) / 1.5)
    assert expected_shortfall(LOSSES, TINY) == pytest.approx(5.5)  # n = S: the mean of every loss
    assert expected_shortfall(LOSSES, 1 - TINY) == 10.0  # no tail left: the maximum
    rows = expected_shortfall(np.stack([LOSSES, -LOSSES]), 0.8)
    np.testing.assert_allclose(rows, [9.5, -1.5])


def test_value_at_risk_is_the_ceiling_th_largest_loss() -> None:
    assert value_at_risk(LOSSES, 0.75) == 8.0  # ceil(2.5) = 3rd largest
    assert value_at_risk(LOSSES, 0.8) == 9.0
    assert value_at_risk(LOSSES, 0.9) == 10.0
    assert value_at_risk(LOSSES, 1 - TINY) == 10.0  # at least the largest
    assert value_at_risk(LOSSES, TINY) == 1.0  # at most the S-th
    assert expected_shortfall(LOSSES, 0.75) >= value_at_risk(LOSSES, 0.75)


def test_levels_and_scenario_counts_are_checked() -> None:
    for alpha in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="confidence level"):
            expected_shortfall(LOSSES, alpha)
        with pytest.raises(ConfigError, match="confidence level"):
            value_at_risk(LOSSES, alpha)
    with pytest.raises(ConfigError, match="at least one scenario"):
        expected_shortfall(np.zeros(0), 0.9)
    assert expected_shortfall(np.array([4.0]), 0.9) == 4.0 and value_at_risk(np.array([4.0]), 0.9) == 4.0


def test_worst_mean_caps_k_at_the_scenario_count() -> None:
    assert worst_mean(LOSSES, 1) == 10.0
    assert worst_mean(LOSSES, 3) == 9.0
    assert worst_mean(LOSSES, 10) == 5.5 and worst_mean(LOSSES, 20) == 5.5
    with pytest.raises(ConfigError, match="k >= 1"):
        worst_mean(LOSSES, 0)
    with pytest.raises(ConfigError, match="k >= 1"):
        worst_mean(np.zeros(0), 1)


def core(
    losses: np.ndarray, n_fhs: int, *, w: float = 0.0, b: float = 0.0, var: bool = False, **kw: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return core_measure(losses, n_fhs, var=var, alpha=0.8, stressed_weight=w, buffer=b, **kw)


def test_core_measure_mixes_the_stressed_block_in_only_upwards() -> None:
    calm = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    stressed = np.array([20.0, 30.0, 40.0, 50.0, 60.0])
    losses = np.concatenate([calm, stressed])
    total, fhs, stress = core(losses, 10, w=0.25)
    assert fhs == 9.5 and stress == 60.0  # ES 80% of 5 stressed losses: n = 1
    assert total == pytest.approx(0.75 * 9.5 + 0.25 * 60.0)
    mild = np.concatenate([calm, np.zeros(5)])
    assert core(mild, 10, w=0.25)[0] == 9.5  # a calm stressed block never lowers the FHS measure
    assert core(losses, 10, b=0.5)[0] == pytest.approx(1.5 * 9.5)  # the buffer mode: w = 0, (1 + b) × FHS
    assert core(calm, 10, b=0.5)[0] == pytest.approx(1.5 * 9.5)
    assert core(-calm, 10)[0] == 0.0  # gains only: no margin below zero
    var_total, var_fhs, _ = core(losses, 10, w=0.25, var=True)
    assert var_fhs == 9.0 and var_total == pytest.approx(0.75 * 9.0 + 0.25 * 60.0)


def test_core_measure_without_stressed_periods_uses_the_fhs_measure() -> None:
    total, fhs, stress = core(LOSSES, 10, w=0.5)
    assert fhs == stress == total == 9.5


def test_the_basis_block_is_the_mean_of_its_worst_losses() -> None:
    losses = np.concatenate([LOSSES, [1.0, 2.0], [100.0, 0.0, 50.0]])  # 10 FHS, 2 stressed, 3 basis
    _, fhs, stress = core(losses, 10, w=0.25, n_basis=3, basis_count=2)
    assert fhs == 9.5 and stress == 75.0  # max(ES of [1, 2] = 2, mean of 100 and 50)
    _, _, only_basis = core(np.concatenate([LOSSES, [100.0, 0.0, 50.0]]), 10, n_basis=3, basis_count=1)
    assert only_basis == 100.0  # no stressed periods: max(fhs, worst basis loss)


@pytest.mark.parametrize(
    ("n_fhs", "n_basis", "count", "why"),
    [
        (0, 0, 1, "bad scenario split"),
        (-1, 0, 1, "bad scenario split"),
        (10, -1, 1, "bad scenario split"),
        (9, 2, 1, "bad scenario split"),
        (11, 0, 1, "bad scenario split"),
        (8, 2, 0, "basis_count must be >= 1"),
    ],
)
def test_bad_scenario_splits_are_refused(n_fhs: int, n_basis: int, count: int, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        core(LOSSES, n_fhs, n_basis=n_basis, basis_count=count)
    with pytest.raises(ConfigError, match=why):
        core_measure_pnl(-LOSSES[None, :], n_fhs, var=False, alpha=0.8, stressed_weight=0.0, buffer=0.0,
                         n_basis=n_basis, basis_count=count)  # fmt: skip


def test_splits_at_their_bounds_are_accepted() -> None:
    assert core(LOSSES, 8, n_basis=2, basis_count=1)[1] == core(LOSSES[:8], 8)[1]
    assert core(LOSSES, 10, n_basis=0, basis_count=0)[0] == 9.5  # no basis block: its count is not used


@pytest.mark.parametrize("var", [False, True])
def test_the_pnl_path_equals_the_loss_path_row_by_row_across_blocks(var: bool) -> None:
    rng = np.random.default_rng(5)
    losses = rng.normal(size=(300, 40))  # more rows than one block of 256
    kw = {"var": var, "alpha": 0.9, "stressed_weight": 0.25, "buffer": 0.0, "n_basis": 5, "basis_count": 2}
    want = core_measure(losses, 25, **kw)  # type: ignore[arg-type]
    for threads in (1, 2, None):
        got = core_measure_pnl(np.ascontiguousarray(-losses), 25, threads=threads, **kw)  # type: ignore[arg-type]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    no_stress = core_measure_pnl(-LOSSES[None, :], 10, var=var, alpha=0.8, stressed_weight=0.3, buffer=0.0)
    assert no_stress[1][0] == no_stress[2][0] == (9.0 if var else 9.5)


def test_the_pnl_path_at_the_extremes_of_the_level() -> None:
    pnl = -LOSSES[None, :]
    assert core_measure_pnl(pnl, 10, var=False, alpha=1 - TINY, stressed_weight=0.0, buffer=0.0)[1][0] == 10.0
    assert core_measure_pnl(pnl, 10, var=False, alpha=TINY, stressed_weight=0.0, buffer=0.0)[1][0] == pytest.approx(5.5)
    assert core_measure_pnl(pnl, 10, var=True, alpha=1 - TINY, stressed_weight=0.0, buffer=0.0)[1][0] == 10.0
    assert core_measure_pnl(pnl, 10, var=True, alpha=TINY, stressed_weight=0.0, buffer=0.0)[1][0] == 1.0
    assert core_measure_pnl(pnl, 10, var=False, alpha=0.75, stressed_weight=0.0, buffer=0.0)[1][0] == pytest.approx(9.2)
    with pytest.raises(ConfigError, match="pnl must be"):
        core_measure_pnl(-LOSSES, 10, var=False, alpha=0.8, stressed_weight=0.0, buffer=0.0)


def test_rows_of_a_matrix_are_measured_along_the_scenarios() -> None:
    both = np.stack([LOSSES, 2 * LOSSES])
    np.testing.assert_allclose(expected_shortfall(both, 1 - TINY), [10.0, 20.0])
    np.testing.assert_allclose(expected_shortfall(both, 0.75), [9.2, 18.4])
    np.testing.assert_allclose(value_at_risk(both, 0.75), [8.0, 16.0])
    np.testing.assert_allclose(worst_mean(both, 3), [9.0, 18.0])


def test_one_scenario_and_one_fhs_scenario_are_enough() -> None:
    assert worst_mean(np.array([4.0]), 1) == 4.0 and worst_mean(np.array([4.0]), 3) == 4.0
    two = np.array([3.0, 8.0])  # one FHS scenario, one stressed
    assert float(core(two, 1)[1]) == pytest.approx(3.0)
    assert float(core(two, 1, w=1.0)[0]) == pytest.approx(8.0)


def test_the_basis_block_counts_its_single_worst_loss_by_default() -> None:
    losses = np.concatenate([LOSSES, [100.0, 0.0, 50.0]])
    assert core_measure(losses, 10, var=False, alpha=0.8, stressed_weight=0.0, buffer=0.0, n_basis=3)[2] == 100.0
    pnl = -losses[None, :]
    assert core_measure_pnl(pnl, 10, var=False, alpha=0.8, stressed_weight=0.0, buffer=0.0, n_basis=3)[2][0] == 100.0
