"""Tail measures: known answers and coherence properties."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.errors import ConfigError
from offchain.risk.measures import core_measure, core_measure_pnl, expected_shortfall, value_at_risk, worst_mean


class MeasureKw(TypedDict):
    """The keyword-only parameters of core_measure / core_measure_pnl, shared by a test."""

    var: bool
    alpha: float
    stressed_weight: float
    buffer: float


class BasisMeasureKw(MeasureKw):
    n_basis: int
    basis_count: int


LOSSES = arrays(np.float64, st.integers(5, 300), elements=st.floats(-1e6, 1e6, allow_subnormal=False))


def test_es_known_answer_fractional_tail() -> None:
    losses = np.arange(1.0, 101.0)  # 1..100
    # n = 2.5 worst: (100 + 99 + 0.5 * 98) / 2.5
    assert expected_shortfall(losses, 0.975) == pytest.approx(99.2)
    assert value_at_risk(losses, 0.975) == 98.0  # ceil(2.5) = 3rd largest
    assert value_at_risk(losses, 0.99) == 100.0
    assert expected_shortfall(losses, 0.99) == 100.0


def test_rows_are_independent() -> None:
    losses = np.stack([np.arange(100.0), -np.arange(100.0), np.full(100, 5.0)])
    np.testing.assert_allclose(expected_shortfall(losses, 0.98), [98.5, -0.5, 5.0])


def test_bad_level_rejected() -> None:
    with pytest.raises(ConfigError):
        expected_shortfall(np.zeros(10), 1.0)


@settings(max_examples=200, deadline=None)
@given(LOSSES, st.sampled_from([0.9, 0.95, 0.975, 0.99]))
def test_es_at_least_var(losses: np.ndarray, alpha: float) -> None:
    assert expected_shortfall(losses, alpha) >= value_at_risk(losses, alpha) - 1e-9 * (1 + abs(losses).max())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_es_subadditive_and_homogeneous(data: st.DataObject) -> None:
    s = data.draw(st.integers(10, 200))
    elems = st.floats(-1e4, 1e4, allow_subnormal=False)
    a = data.draw(arrays(np.float64, s, elements=elems))
    b = data.draw(arrays(np.float64, s, elements=elems))
    c = data.draw(st.floats(0.01, 100))
    tol = 1e-9 * (1 + np.abs(a).max() + np.abs(b).max()) * s
    assert expected_shortfall(a + b, 0.975) <= expected_shortfall(a, 0.975) + expected_shortfall(b, 0.975) + tol
    assert expected_shortfall(c * a, 0.975) == pytest.approx(c * expected_shortfall(a, 0.975), rel=1e-9, abs=tol)


def test_core_measure_blends_stress_and_floors_at_zero() -> None:
    fhs = np.arange(1.0, 101.0)
    stress = np.arange(1.0, 41.0) * 10  # ES 97.5 of 40: n = 1 -> 400
    core, f, s = core_measure(
        np.concatenate([fhs, stress]), 100, var=False, alpha=0.975, stressed_weight=0.25, buffer=0.0
    )
    assert f == pytest.approx(99.2) and s == pytest.approx(400.0)
    assert core == pytest.approx(0.75 * 99.2 + 0.25 * 400.0)
    buf = core_measure(fhs, 100, var=False, alpha=0.975, stressed_weight=0.0, buffer=0.25)[0]
    assert buf == pytest.approx(1.25 * 99.2)
    gains = core_measure(-fhs, 100, var=False, alpha=0.975, stressed_weight=0.0, buffer=0.0)[0]
    assert gains == 0.0


def test_basis_block_is_max_with_periods_known_answer() -> None:
    fhs = np.arange(1.0, 101.0)  # ES 99.2
    periods = np.arange(1.0, 41.0)  # ES of 40 at 97.5 %: n = 1 -> 40
    basis = np.array([0.0, 0.0, 90.0, 30.0, 60.0, -5.0])  # mean of the 2 worst: 75
    losses = np.concatenate([fhs, periods, basis])
    kw: MeasureKw = {"var": False, "alpha": 0.975, "stressed_weight": 0.25, "buffer": 0.0}
    core, f, s = core_measure(losses, 100, n_basis=6, basis_count=2, **kw)
    assert f == pytest.approx(99.2) and s == pytest.approx(75.0) and core == pytest.approx(99.2)
    core, f, s = core_measure(losses * np.r_[np.full(100, 0.1), np.ones(46)], 100, n_basis=6, basis_count=2, **kw)
    assert s == pytest.approx(75.0) and core == pytest.approx(0.75 * 9.92 + 0.25 * 75.0)
    # Periods dominate when larger; no periods at all: the basis block against the FHS measure.
    assert core_measure(
        losses * 10 * np.r_[np.ones(100), np.ones(40), np.full(6, 0.01)], 100, n_basis=6, basis_count=2, **kw
    )[2] == pytest.approx(400.0)
    assert core_measure(np.concatenate([fhs, basis]), 100, n_basis=6, basis_count=2, **kw)[2] == pytest.approx(99.2)
    # The P&L path gives the same numbers.
    pnl = -np.vstack([losses, 2 * losses])
    for a, b in zip(
        core_measure_pnl(pnl, 100, n_basis=6, basis_count=2, **kw),
        core_measure(-pnl, 100, n_basis=6, basis_count=2, **kw),
        strict=True,
    ):
        np.testing.assert_allclose(a, b)
    assert worst_mean(basis, 100) == pytest.approx(basis.mean())  # k capped at S
    with pytest.raises(ConfigError):
        core_measure(losses, 100, n_basis=100, basis_count=2, **kw)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_core_measure_with_basis_block_subadditive_homogeneous(data: st.DataObject) -> None:
    s = data.draw(st.integers(60, 200))
    elems = st.floats(-1e4, 1e4, allow_subnormal=False)
    a = data.draw(arrays(np.float64, s, elements=elems))
    b = data.draw(arrays(np.float64, s, elements=elems))
    c = data.draw(st.floats(0.01, 100))
    kw: BasisMeasureKw = {
        "var": False,
        "alpha": 0.975,
        "stressed_weight": 0.25,
        "buffer": 0.0,
        "n_basis": 20,
        "basis_count": 5,
    }

    def core(x: np.ndarray) -> float:
        return float(core_measure(x, s - 40, **kw)[0])

    tol = 1e-9 * (1 + np.abs(a).max() + np.abs(b).max()) * s
    assert core(a + b) <= core(a) + core(b) + tol
    assert core(c * a) == pytest.approx(c * core(a), rel=1e-9, abs=tol)
