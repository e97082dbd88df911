"""The IM rise cap: bounded daily increase with catch-up, never below the stressed floor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.risk.errors import ConfigError
from offchain.risk.risecap import rise_capped


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
