"""Conversion to base units at its boundaries: decimals 0 and 18, the 2**53 limit, empty and infinite input,
and the exact-product correction in both directions; the per-row form at its own boundaries (2**53, where it
leaves the float path, and 2**63, where it flags a row)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from offchain.risk.errors import ConfigError, UnitsOverflowError
from offchain.risk.units import _two_product, to_units_down, to_units_up, units_per_row


def test_decimals_from_zero_to_eighteen_only() -> None:
    for bad in (-1, 19):
        with pytest.raises(ConfigError, match="decimals"):
            to_units_up(np.array([1.0]), bad)
        with pytest.raises(ConfigError, match="decimals"):
            to_units_down(np.array([1.0]), bad)
    assert int(to_units_up(np.array([1.5]), 0)[0]) == 2
    assert int(to_units_down(np.array([1.5]), 0)[0]) == 1
    assert int(to_units_up(np.array([2.0**-60]), 18)[0]) == 1  # 10**18 × 2**-60 = 0.000867… → 1
    assert int(to_units_down(np.array([2.0**-60]), 18)[0]) == 0


def test_the_exact_limit_is_two_to_the_53() -> None:
    below = float(2**53 - 1)
    assert int(to_units_up(np.array([below]), 0)[0]) == 2**53 - 1
    assert int(to_units_down(np.array([-below]), 0)[0]) == -(2**53 - 1)
    for x in (float(2**53), -float(2**53)):
        with pytest.raises(UnitsOverflowError, match="too large"):
            to_units_down(np.array([x]), 0)
    with pytest.raises(UnitsOverflowError, match="NaN or infinite"):
        to_units_up(np.array([1.0, np.inf]), 0)


def test_empty_input_gives_empty_output() -> None:
    assert to_units_up(np.array([], dtype=np.float64), 6).shape == (0,)
    assert to_units_down(np.array([], dtype=np.float64), 6).shape == (0,)


def test_the_float_product_rounding_below_an_integer_is_corrected_down() -> None:
    # 0.3 is slightly below 3/10, and 0.3 * 10 rounds up to exactly 3.0 in floating point.
    assert 0.3 * 10 == 3.0 and Fraction(0.3) * 10 < 3
    assert int(to_units_down(np.array([0.3]), 1)[0]) == 2
    assert int(to_units_up(np.array([0.3]), 1)[0]) == 3
    # Exact products stay as they are in both directions.
    assert int(to_units_up(np.array([0.5]), 1)[0]) == 5 and int(to_units_down(np.array([0.5]), 1)[0]) == 5


def test_large_products_split_exactly() -> None:
    # Dekker's split must recover the exact error of products of large magnitude too.
    x = np.array([123456789.123456789, 9.87654321e8, 1.0e9 / 3])
    for d in (0, 6):
        up, down = to_units_up(x, d).tolist(), to_units_down(x, d).tolist()
        for xi, u, dn in zip(x.tolist(), up, down, strict=True):
            exact = Fraction(xi) * 10**d
            assert dn <= exact <= u and u - dn <= 1
            assert (u == dn) == (exact.denominator == 1)


def test_the_product_error_is_exact_for_every_scale_up_to_eighteen_decimals() -> None:
    # Dekker's TwoProduct: p + e is exactly a × 10**d. For d >= 12 the scale itself has more than 27
    # significant bits, so every term of the error (and the split constant) matters.
    rng = np.random.default_rng(11)
    a = np.concatenate(
        [rng.uniform(1e-3, 1.0, size=300), rng.uniform(1.0, 1e9, size=300), rng.uniform(1e-12, 1e-6, size=300)]
    )
    for d in range(19):
        p, e = _two_product(a, float(10**d))
        for ai, pi, ei in zip(a.tolist(), p.tolist(), e.tolist(), strict=True):
            assert Fraction(pi) + Fraction(ei) == Fraction(ai) * Fraction(float(10**d))


def test_conservative_rounding_where_the_float_product_is_an_integer() -> None:
    # a × 10**18 in [2**52, 2**53): the float product is a whole number, so only the error term decides.
    rng = np.random.default_rng(12)
    a = rng.uniform(2**52 / 1e18, 2**53 / 1e18, size=300)
    up, down = to_units_up(a, 18).tolist(), to_units_down(a, 18).tolist()
    for ai, u, dn in zip(a.tolist(), up, down, strict=True):
        exact = Fraction(ai) * 10**18
        assert u == math.ceil(exact) and dn == math.floor(exact)


def rows(amounts: list[float], decimals: int) -> tuple[list[int], list[int], list[bool]]:
    up, ok_up = units_per_row(np.array(amounts), decimals, up=True)
    down, ok_down = units_per_row(np.array(amounts), decimals, up=False)
    assert ok_up.tolist() == ok_down.tolist()
    return up.tolist(), down.tolist(), ok_up.tolist()


def test_per_row_decimals_from_zero_to_eighteen_only() -> None:
    for bad in (-1, 19):
        for up in (True, False):
            with pytest.raises(ConfigError, match="decimals"):
                units_per_row(np.array([1.0]), bad, up=up)
    assert rows([1.5, -1.5], 0) == ([2, -1], [1, -2], [True, True])
    # 10**18 × 2**-60 = 0.000867…: one unit up, none down.
    assert rows([2.0**-60, -(2.0**-60)], 18) == ([1, 0], [0, -1], [True, True])


def test_per_row_corrects_a_float_product_that_rounds_onto_an_integer_in_both_directions() -> None:
    # 0.3 × 10 is 3.0 in floating point but 0.3 is below 3/10; 0.1 × 10**6 is 100000.0 but 0.1 is above 1/10.
    assert rows([0.3, -0.3, 0.5], 1) == ([3, -2, 5], [2, -3, 5], [True, True, True])
    assert rows([0.1, -0.1], 6) == ([100001, -100000], [100000, -100001], [True, True])


def test_per_row_at_exactly_two_to_the_53_takes_the_exact_path() -> None:
    # 900719925474099.2 × 10 is exactly 2**53 + 1/2; the float product is 2**53 itself, where a float cannot
    # hold 2**53 + 1: only the rational path gives the ceiling.
    a = 900719925474099.2
    assert Fraction(a) * 10 == Fraction(2**53) + Fraction(1, 2)
    assert rows([a, -a], 1) == ([2**53 + 1, -(2**53)], [2**53, -(2**53 + 1)], [True, True])


def test_per_row_rounds_a_fractional_amount_beyond_two_to_the_53_conservatively() -> None:
    # (2e10 + 2**-10) × 10**6 = 20000000000000976.5625: beyond 2**53, and not a whole number of units.
    a = 2.0e10 + 2.0**-10
    assert Fraction(a) * 10**6 == Fraction(20_000_000_000_000_976) + Fraction(9, 16)
    assert rows([a, -a], 6) == (
        [20_000_000_000_000_977, -20_000_000_000_000_976],
        [20_000_000_000_000_976, -20_000_000_000_000_977],
        [True, True],
    )


def test_per_row_keeps_everything_below_two_to_the_63_and_flags_the_rest() -> None:
    big = 5.0e18  # between 2**62 and 2**63
    top = float(2**63)
    below = float(2**63 - 1024)  # the largest float below 2**63
    up, down, ok = rows([big, -big, below, top, -top, 1.0e19, np.nan, -np.inf], 0)
    assert ok == [True, True, True, False, False, False, False, False]
    assert up == down == [5 * 10**18, -5 * 10**18, 2**63 - 1024, 0, 0, 0, 0, 0]
