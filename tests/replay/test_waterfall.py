"""The replay's waterfall is the core allocation at a USD boundary: conservation, order, caps, conservative
rounding, and the same draws as offchain/core/waterfall.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.waterfall import Layer
from offchain.replay.waterfall import LAYERS, Position, WaterfallState, cover

amounts = st.floats(min_value=0, max_value=1e9, allow_nan=False)


def state(
    loss: float,
    l1: float,
    l2: float,
    l3: float,
    contrib: list[float],
    gains: list[float],
    budget: list[float] | None = None,
    adl: tuple[Position, ...] = (),
) -> WaterfallState:
    """Member 0 defaults; members 1.. survive with ``contrib`` (also at DECLARE) and ``gains``."""
    c = np.array([0.0, *contrib])
    return WaterfallState(
        defaulter=0,
        loss=loss,
        collateral=l1,
        contribution=l2,
        operator_capital=l3,
        contributions=c,
        declared=c,
        assessment_budget=2 * c if budget is None else np.array([0.0, *budget]),
        vm_gains=np.array([0.0, *gains]),
        adl=adl,
    )


def test_known_answer() -> None:
    adl = (Position(1, "BTC-USD-PERP", -5e6, 40.0), Position(2, "BTC-USD-PERP", -1e6, 70.0))
    c = cover(state(1_000.0, 300.0, 100.0, 50.0, [60.0, 40.0], [50.0, 10.0], adl=adl), 6)
    # L1 300, L2 100, L3 50, L4 100 (60/40), L5 200 (2 × 100: 120/80), L6 60 (all gains), L7 190:
    # rank 1 member 2 (profit 70) gives 70, member 1 (40) gives 40, 80 uncovered.
    assert c.layers == {
        "L1_defaulter_collateral": 300.0,
        "L2_defaulter_contribution": 100.0,
        "L3_operator_capital": 50.0,
        "L4_survivors_fund": 100.0,
        "L5_assessments": 200.0,
        "L6_vm_haircut": 60.0,
        "L7_adl": 110.0,
    }
    assert c.uncovered == 80.0 and c.loss == 1_000.0 and c.adl_count == 2
    np.testing.assert_array_equal(c.survivors_fund, [0, 60, 40])
    np.testing.assert_array_equal(c.assessments, [0, 120, 80])
    np.testing.assert_array_equal(c.vm_haircuts, [0, 50, 10])
    np.testing.assert_array_equal(c.adl, [0, 40, 70])
    assert [a.rank for a in c.plan.adl] == [1, 2] and c.plan.external == 0
    assert list(c.layers) == list(LAYERS)


def test_rounding_is_conservative() -> None:
    # 0.1 USD of loss is 100001 units (0.1 is slightly above 1/10); 0.3 of collateral floors to 299999.
    c = cover(state(0.1, 0.3, 0.0, 0.0, [], []), 6)
    assert c.plan.loss == 100_001 and c.layers["L1_defaulter_collateral"] == pytest.approx(0.100001)
    c = cover(state(1.0, 0.3, 0.0, 0.0, [], []), 6)
    assert c.plan.draws[0].value == 299_999 and c.uncovered == pytest.approx(0.700001)


@settings(max_examples=200, deadline=None)
@given(
    loss=amounts,
    l123=st.lists(amounts, min_size=3, max_size=3),
    contrib=st.lists(st.floats(0, 1e8), min_size=1, max_size=5),
    data=st.data(),
)
def test_conservation_order_and_caps(loss: float, l123: list[float], contrib: list[float], data: st.DataObject) -> None:
    n = len(contrib)
    gains = data.draw(st.lists(st.floats(0, 1e8), min_size=n, max_size=n))
    budget = data.draw(st.lists(st.floats(0, 3e8), min_size=n, max_size=n))
    profits = data.draw(st.lists(st.floats(-1e7, 1e8), min_size=n, max_size=n))
    adl = tuple(Position(m + 1, "X", -1e6 * (m + 1), profits[m]) for m in range(n))
    l1, l2, l3 = l123
    s = state(loss, l1, l2, l3, contrib, gains, budget, adl)
    c = cover(s, 6)
    got = [c.layers[k] for k in LAYERS]
    # Exact conservation in base units; the loss covered is the loss rounded up (at most one unit more).
    assert c.plan.loss == sum(c.plan.by_layer().values()) + c.plan.uncovered
    assert 0 <= c.loss - loss <= 1e-6 * (1 + loss * 1e-9)
    cs = np.array(contrib)
    caps = [
        l123[0],
        l123[1],
        l123[2],
        cs.sum(),
        np.minimum(2 * cs, budget).sum(),
        sum(gains),
        sum(max(x, 0.0) for x in profits),
    ]
    for k, (x, cap) in enumerate(zip(got, caps, strict=True)):
        assert 0 <= x <= cap + 1e-6 * (1 + cap * 1e-9)  # a capacity is never exceeded (rounded down)
        if any(got[j] > 0 for j in range(k + 1, 7)):
            assert x >= cap - 1e-6 * (n + 1) - cap * 1e-9  # a later layer only once this one is exhausted
    assert np.all(c.survivors_fund[1:] <= cs + 1e-9) and c.survivors_fund.sum() == pytest.approx(got[3], abs=1e-6)
    assert np.all(c.assessments[1:] <= np.minimum(2 * cs, budget) + 1e-9)
    assert np.all(c.vm_haircuts[1:] <= np.array(gains) + 1e-9)
    assert np.all(c.adl[1:] <= np.maximum(profits, 0) + 1e-9) and c.adl[0] == 0
    if c.uncovered > 0:
        assert all(x >= cap - 1e-6 * (n + 1) - cap * 1e-9 for x, cap in zip(got, caps, strict=True))


def test_layer_names_follow_the_core_layers() -> None:
    assert [f"L{int(x)}" for x in Layer] == [k.split("_")[0] for k in LAYERS]


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        cover(state(-1.0, 0, 0, 0, [], []), 6)
    bad = state(1.0, 0, 0, 0, [1.0], [0.0])
    with pytest.raises(ValueError):
        cover(
            WaterfallState(0, 1.0, 0, 0, 0, bad.contributions, bad.declared[:1], bad.assessment_budget, bad.vm_gains), 6
        )
