"""The replay's L1-L7 allocation: conservation, order, caps, pro-rata sums."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.replay.waterfall import LAYERS, allocate, pro_rata

amounts = st.floats(min_value=0, max_value=1e9, allow_nan=False)


def test_known_answer() -> None:
    a = allocate(100.0, [30, 10, 5, 20, 10, 50, 1000])
    assert a.amounts == (30, 10, 5, 20, 10, 25, 0)
    assert a.uncovered == 0
    assert list(a.by_layer()) == list(LAYERS)


@settings(max_examples=200, deadline=None)
@given(loss=amounts, caps=st.lists(amounts, min_size=7, max_size=7))
def test_conservation_and_order(loss: float, caps: list[float]) -> None:
    a = allocate(loss, caps)
    assert sum(a.amounts) + a.uncovered == pytest.approx(loss, rel=1e-12, abs=1e-6)
    for k, (x, c) in enumerate(zip(a.amounts, caps, strict=True)):
        assert 0 <= x <= c
        if k + 1 < len(caps) and a.amounts[k + 1] > 0:
            assert x == c  # a later layer only once this one is exhausted
    assert a.uncovered == 0 or all(x == c for x, c in zip(a.amounts, caps, strict=True))


@settings(max_examples=200, deadline=None)
@given(total=amounts, w=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)), min_size=1, max_size=8), data=st.data())
def test_pro_rata(total: float, w: list[float], data: st.DataObject) -> None:
    caps = np.array(data.draw(st.lists(st.floats(0, 1e9), min_size=len(w), max_size=len(w))))
    weights = np.array(w)
    parts = pro_rata(total, weights, caps)
    assert np.all(parts >= 0) and np.all(parts <= caps * (1 + 1e-12))
    assert np.all(parts[weights == 0] == 0)
    reach = caps[(weights > 0) & (caps > 0)].sum()
    assert parts.sum() == pytest.approx(min(total, reach), rel=1e-9, abs=1e-6)


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        allocate(-1.0, [0] * 7)
    with pytest.raises(ValueError):
        allocate(1.0, [0] * 6)
