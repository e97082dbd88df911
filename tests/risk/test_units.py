"""Conservative rounding to integer base units."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.risk.errors import UnitsOverflowError
from offchain.risk.units import to_units_down, to_units_up, units_per_row


def test_known_values() -> None:
    x = np.array([0.1234567, 2.0, -0.0000015, 0.0])
    np.testing.assert_array_equal(to_units_up(x, 6), [123457, 2_000_000, -1, 0])
    np.testing.assert_array_equal(to_units_down(x, 6), [123456, 2_000_000, -2, 0])
    assert to_units_up(x, 6).dtype == np.int64


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e9, 1e9, allow_nan=False), st.integers(0, 6))
def test_up_never_below_and_down_never_above(x: float, d: int) -> None:
    up = int(to_units_up(np.array([x]), d)[0])
    down = int(to_units_down(np.array([x]), d)[0])
    exact = Fraction(x) * 10**d  # the exact decimal product, not the float one
    assert down <= exact <= up
    assert up - exact < 1 and exact - down < 1


def test_overflow_and_nan_refused() -> None:
    with pytest.raises(UnitsOverflowError):
        to_units_up(np.array([1e12]), 6)
    with pytest.raises(UnitsOverflowError):
        to_units_down(np.array([np.nan]), 6)


def test_float_product_rounding_across_an_integer_is_corrected() -> None:
    # 0.1 is slightly above 1/10, and 0.1 * 1e6 rounds to exactly 100000.0 in floating point.
    assert 0.1 * 1e6 == 100000.0 and Fraction(0.1) * 10**6 > 100000
    assert int(to_units_up(np.array([0.1]), 6)[0]) == 100001
    assert int(to_units_down(np.array([0.1]), 6)[0]) == 100000


def test_per_row_units_are_exact_beyond_2_53_and_flag_the_rest() -> None:
    amounts = np.array([0.1, 2.0e10 + 0.25, np.inf, np.nan, 1e13, -3.5])
    up, ok = units_per_row(amounts, 6, up=True)
    down, ok2 = units_per_row(amounts, 6, up=False)
    assert ok.tolist() == ok2.tolist() == [True, True, False, False, False, True]
    assert up.tolist() == [100001, 20_000_000_000_250_000, 0, 0, 0, -3_500_000]
    assert down.tolist() == [100000, 20_000_000_000_250_000, 0, 0, 0, -3_500_000]
