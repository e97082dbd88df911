"""The IM rise cap: bounded daily increase with catch-up, never below the stressed floor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.errors import ConfigError
from offchain.risk.risecap import capped_requirements, rise_capped, stress_floor
from offchain.risk.tiers import DEFAULT_TIERS


def test_a_jump_is_phased_in_and_caught_up() -> None:
    model = np.array([100.0, 100.0, 300.0, 300.0, 300.0, 300.0, 150.0])
    floor = np.array([80.0, 80.0, 140.0, 140.0, 140.0, 140.0, 140.0])
    got = rise_capped(model, floor, 0.5)
    np.testing.assert_allclose(got, [100, 100, 150, 225, 300, 300, 150])


def test_the_stressed_floor_binds_over_the_cap() -> None:
    got = rise_capped(np.array([100.0, 400.0]), np.array([50.0, 250.0]), 0.25)
    np.testing.assert_allclose(got, [100.0, 250.0])  # the cap would allow 125: the floor wins


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, 30, elements=st.floats(0, 1e6)),
    arrays(np.float64, 30, elements=st.floats(0, 1.0)),
    st.floats(0.01, 2.0),
)
def test_properties(model: np.ndarray, share: np.ndarray, c: float) -> None:
    floor = model * share  # the stressed floor is a part of the model IM
    got = rise_capped(model, floor, c)
    assert np.all(got >= floor) and np.all(got <= model * (1 + 1e-12))
    prev = got[:-1]
    rise_ok = got[1:] <= np.maximum(prev * (1 + c), floor[1:]) * (1 + 1e-12)
    assert np.all(rise_ok)


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        rise_capped(np.ones(3), np.ones(2), 0.5)
    with pytest.raises(ConfigError):
        rise_capped(np.ones(3), np.ones(3), 0.0)
    with pytest.raises(ConfigError):
        rise_capped(np.array([1.0, np.nan]), np.ones(2), 0.5)


NAN = float("nan")


def test_live_cap_known_answers() -> None:
    model = np.array([300.0, 300.0, 300.0, 300.0, 300.0, 90.0])
    floor = np.array([140.0, 140.0, 280.0, 140.0, 140.0, 80.0])
    ref_im = np.array([100.0, NAN, 100.0, 100.0, 0.0, 100.0])
    ref_floor = np.array([140.0, NAN, 140.0, 70.0, 0.0, 80.0])
    got = capped_requirements(model, floor, ref_im, ref_floor, 0.25)
    # capped at 125; no reference: the model; the floor binds; the book doubled (floor 70 -> 140): cap 250;
    # flat at the reference: the model; a fall: the model at once
    np.testing.assert_allclose(got, [140.0, 300.0, 280.0, 250.0, 300.0, 90.0])


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, 8, elements=st.floats(0, 1e9)),
    arrays(np.float64, 8, elements=st.floats(0, 1.0)),
    arrays(np.float64, 8, elements=st.floats(0, 1e9)),
    arrays(np.float64, 8, elements=st.floats(0, 1e9)),
    st.floats(0.01, 2.0),
)
def test_live_cap_properties(
    model: np.ndarray, share: np.ndarray, ref_im: np.ndarray, ref_floor: np.ndarray, c: float
) -> None:
    floor = model * share
    got = capped_requirements(model, floor, ref_im, ref_floor, c)
    assert np.all(got >= floor) and np.all(got <= model)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        growth = np.where(ref_floor > 0, np.maximum(1.0, floor / np.where(ref_floor > 0, ref_floor, 1.0)), np.inf)
        cap = ref_im * growth * (1 + c)
    bound = np.maximum(floor, np.where(np.isfinite(cap), cap, np.inf))  # 0 x inf: a flat book, no cap
    assert np.all(got <= bound * (1 + 1e-12))
    # the cap only ever lowers the model's IM, and more headroom (a higher reference) never lowers the result
    more = capped_requirements(model, floor, ref_im * 2, ref_floor, c)
    assert np.all(more >= got)


def test_live_cap_bad_input() -> None:
    one = np.ones(2)
    with pytest.raises(ConfigError):
        capped_requirements(one, np.ones(3), one, one, 0.25)
    with pytest.raises(ConfigError):
        capped_requirements(one, one, one, one, 0.0)
    with pytest.raises(ConfigError):
        capped_requirements(one, one * 2, one, one, 0.25)  # a floor above the model
    with pytest.raises(ConfigError):
        capped_requirements(np.array([1.0, NAN]), one * 0.5, one, one, 0.25)


def test_stress_floor_is_the_im_with_the_core_at_the_stressed_measure() -> None:
    core, stress, addons = np.array([10.0, 10.0, 10.0]), np.array([4.0, 30.0, -1.0]), np.array([1.0, 1.0, 1.0])
    tiers = np.array([0, 2, 0], dtype=np.int64)
    got = stress_floor(core, stress, addons, DEFAULT_TIERS, tiers)
    np.testing.assert_allclose(got, [5.0, 11.0 * DEFAULT_TIERS[2].im_multiplier, 1.0])
