"""The waterfall mirror (offchain/core/waterfall.py): conservation, layer order, pro-rata sums, caps."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT
from offchain.core.waterfall import (
    ASSESSMENT_CAP_MULTIPLE,
    AdlCandidate,
    CollateralHolding,
    Draw,
    Layer,
    Pool,
    Survivor,
    WaterfallInput,
    haircut_value,
    layer_capacity,
    plan_waterfall,
    pro_rata,
    seize_for,
)

USDC = 10**6
DEFAULTER = 7


def state(
    loss: int,
    *,
    weth: int = 0,
    contribution: int = 0,
    capital: int = 0,
    survivors: tuple[tuple[int, int, int], ...] = (),
    vm_gains: dict[int, int] | None = None,
    adl: tuple[AdlCandidate, ...] = (),
) -> WaterfallInput:
    """Survivors are (account, shares, cash); one share is worth one base unit."""
    pool_value = contribution + sum(s for _, s, _ in survivors)
    pool = Pool(pool_value, pool_value)
    return WaterfallInput(
        defaulter=DEFAULTER,
        loss=loss,
        collateral=(CollateralHolding(1, weth, 2_000 * USDC, 1_000, 18),),
        contribution=contribution,
        operator_capital=capital,
        pool=pool,
        pool_at_declare=pool,
        survivors=tuple(Survivor(a, sh, c) for a, sh, c in survivors),
        vm_gains=vm_gains or {},
        adl_candidates=adl,
    )


def test_a_small_loss_is_covered_by_the_defaulters_collateral_alone() -> None:
    # 1 WETH at 2,000 with a 10% haircut is worth 1,800; a 900 loss seizes half of it, rounded up.
    plan = plan_waterfall(state(900 * USDC, weth=10**18, contribution=100 * USDC, capital=10**9))
    assert plan.draws == (Draw(Layer.COLLATERAL, DEFAULTER, 1, 5 * 10**17, 900 * USDC),)
    assert plan.cover_amount == 900 * USDC and plan.assessments == () and plan.adl_count == 0
    assert plan.external == 0 and plan.uncovered == 0


def test_layers_in_order_down_to_capped_assessments() -> None:
    # Collateral 1,800, own contribution 200, capital 300, survivors' fund 1,000 (600 + 400): 3,300.
    # A 4,300 loss leaves 1,000 to assess, pro rata 600:400, within the caps (1,200 and 800).
    s = state(
        4_300 * USDC,
        weth=10**18,
        contribution=200 * USDC,
        capital=300 * USDC,
        survivors=((10, 600 * USDC, 10**12), (11, 400 * USDC, 10**12)),
    )
    plan = plan_waterfall(s)
    assert [(d.layer, d.account, d.value) for d in plan.draws] == [
        (Layer.COLLATERAL, DEFAULTER, 1_800 * USDC),
        (Layer.OWN_CONTRIBUTION, DEFAULTER, 200 * USDC),
        (Layer.OPERATOR_CAPITAL, OPERATOR_CAPITAL_ACCOUNT, 300 * USDC),
        (Layer.SURVIVORS_FUND, DEFAULT_FUND_ACCOUNT, 1_000 * USDC),
    ]
    assert [(d.account, d.value) for d in plan.l4_shares] == [(10, 600 * USDC), (11, 400 * USDC)]
    assert [(d.account, d.value) for d in plan.assessments] == [(10, 600 * USDC), (11, 400 * USDC)]
    assert plan.cover_amount == 4_300 * USDC and plan.adl_count == 0


def test_assessments_are_capped_at_twice_the_contribution_then_vm_haircut_then_adl() -> None:
    # Survivors' fund 100 (caps 200 in all); loss beyond everything on-chain goes to L6 then L7.
    s = state(
        1_000 * USDC,
        survivors=((10, 50 * USDC, 10**12), (11, 50 * USDC, 10**12)),
        vm_gains={12: 300 * USDC, 13: 100 * USDC},
        adl=(
            AdlCandidate(20, "BTC-USD-PERP", -5, 100 * USDC),
            AdlCandidate(21, "BTC-USD-PERP", -9, 900 * USDC),
            AdlCandidate(22, "BTC-USD-PERP", -1, -50 * USDC),
        ),
    )
    plan = plan_waterfall(s)
    assert [d.value for d in plan.assessments] == [ASSESSMENT_CAP_MULTIPLE * 50 * USDC] * 2
    assert [(d.account, d.value) for d in plan.vm_haircuts] == [(12, 300 * USDC), (13, 100 * USDC)]
    # Published ranks: the most profitable opposite position first; a losing one is not ranked.
    assert [(a.rank, a.account, a.amount) for a in plan.adl] == [(1, 21, 300 * USDC), (2, 20, 0)]
    assert plan.adl_count == 1 and plan.uncovered == 0
    assert plan.cover_amount == 300 * USDC  # the COVER row: what the vault covers (L4 + L5)


def test_an_assessment_never_exceeds_the_members_cash_the_others_carry_it_within_their_caps() -> None:
    s = state(300 * USDC, survivors=((10, 100 * USDC, 10 * USDC), (11, 100 * USDC, 10**12)))
    plan = plan_waterfall(s)
    # L4 takes the 200 pool; 100 to assess: 50:50 pro rata, but member 10 has 10 of cash.
    assert {d.account: d.value for d in plan.assessments} == {10: 10 * USDC, 11: 90 * USDC}


def test_collateral_without_haircut_value_is_not_seized() -> None:
    h = CollateralHolding(2, 10**8, 0, 500, 8)
    assert seize_for(1, h) == (0, 0)
    assert seize_for(1, CollateralHolding(2, 10**8, 20_000 * USDC, 10_000, 8)) == (0, 0)


# ---------------------------------------------------------------- properties

amounts = st.integers(0, 10**15)


@st.composite
def inputs(draw: st.DrawFn) -> WaterfallInput:
    n = draw(st.integers(0, 6))
    survivors = tuple(Survivor(10 + i, draw(st.integers(0, 10**12)), draw(st.integers(0, 10**13))) for i in range(n))
    own_shares = draw(st.integers(0, 10**12))
    total_shares = own_shares + sum(v.shares for v in survivors)
    pool_value = draw(st.integers(0, 2 * 10**12)) if total_shares else 0
    pool = Pool(pool_value, total_shares)
    declare = Pool(draw(st.integers(pool_value, 3 * 10**12)), total_shares)
    collateral = tuple(
        CollateralHolding(
            a,
            draw(st.integers(0, 10**20)),
            draw(st.integers(0, 10**11)),
            draw(st.integers(0, 10_000)),
            draw(st.sampled_from([6, 8, 18])),
        )
        for a in draw(st.lists(st.integers(1, 5), unique=True, max_size=3))
    )
    gains = draw(st.dictionaries(st.integers(30, 40), st.integers(0, 10**12), max_size=5))
    adl = tuple(
        AdlCandidate(50 + i, "BTC-USD-PERP", draw(st.integers(-(10**9), 10**9)), draw(st.integers(-(10**12), 10**12)))
        for i in range(draw(st.integers(0, 5)))
    )
    return WaterfallInput(
        defaulter=DEFAULTER,
        loss=draw(st.integers(0, 10**13)),
        collateral=collateral,
        contribution=pool.value_of(own_shares),
        operator_capital=draw(amounts),
        pool=pool,
        pool_at_declare=declare,
        survivors=survivors,
        vm_gains=gains,
        adl_candidates=adl,
    )


@settings(max_examples=400)
@given(inputs())
def test_conservation_order_and_caps(s: WaterfallInput) -> None:
    plan = plan_waterfall(s)
    by_layer = plan.by_layer()
    cap = layer_capacity(s)
    # Conservation: every unit of the loss is covered by exactly one layer, or reported uncovered.
    assert sum(by_layer.values()) + plan.uncovered == s.loss
    assert plan.external == 0 and plan.uncovered >= 0
    assert all(d.value >= 0 and d.amount >= 0 for d in (*plan.draws, *plan.assessments, *plan.vm_haircuts))
    # Order: a layer is used only once every earlier on-chain layer is exhausted (L1 at its seizable value).
    onchain = [Layer.COLLATERAL, Layer.OWN_CONTRIBUTION, Layer.OPERATOR_CAPITAL, Layer.SURVIVORS_FUND, Layer.ASSESSMENT]
    for i, layer in enumerate(onchain):
        assert by_layer[layer] <= cap[layer]
        if by_layer[layer] > 0:
            for earlier in onchain[:i]:
                assert by_layer[earlier] == cap[earlier] or (earlier == Layer.COLLATERAL and _l1_exhausted(s, plan))
    later = by_layer[Layer.VM_HAIRCUT] + by_layer[Layer.ADL] + plan.uncovered
    if later:
        assert by_layer[Layer.ASSESSMENT] == cap[Layer.ASSESSMENT]
    if by_layer[Layer.ADL] or plan.uncovered:
        assert by_layer[Layer.VM_HAIRCUT] == sum(g for a, g in s.vm_gains.items() if g > 0 and a != DEFAULTER)
    # The COVER row is exactly what L1-L5 cover; the draws are the vault's order.
    assert plan.cover_amount == sum(by_layer[layer] for layer in onchain)
    assert [d.layer for d in plan.draws] == sorted(d.layer for d in plan.draws)
    # L1: seized quantities within balances.
    held = {h.asset: h.balance for h in s.collateral}
    for d in plan.draws:
        if d.layer == Layer.COLLATERAL:
            assert 0 < d.amount <= held[d.asset]
    # L4: the survivors' shares sum exactly to the layer.
    assert sum(d.value for d in plan.l4_shares) == by_layer[Layer.SURVIVORS_FUND]
    # L5: each assessment within 2x its contribution at DECLARE and its cash.
    survivors = {v.account: v for v in s.survivors}
    for d in plan.assessments:
        v = survivors[d.account]
        assert d.value <= ASSESSMENT_CAP_MULTIPLE * s.pool_at_declare.value_of(v.shares)
        assert d.value <= v.cash
    # L6: within each member's gains. L7: in rank order, within profits.
    for d in plan.vm_haircuts:
        assert d.value <= s.vm_gains[d.account]
    taken = [a.amount for a in plan.adl]
    assert all(a.amount <= a.profit for a in plan.adl)
    assert taken == sorted(taken, key=lambda x: x == 0)  # no later rank before an earlier one is used up
    for a, b in zip(plan.adl, plan.adl[1:], strict=False):
        if b.amount:
            assert a.amount == a.profit


def _l1_exhausted(s: WaterfallInput, plan: object) -> bool:
    """L1 seizes whole balances when they do not cover the loss; with rounding, 'exhausted' means every
    asset with haircut value was seized in full."""
    from offchain.core.waterfall import WaterfallPlan

    assert isinstance(plan, WaterfallPlan)
    seized = {d.asset: d.amount for d in plan.draws if d.layer == Layer.COLLATERAL}
    return all(
        seized.get(h.asset, 0) == h.balance
        for h in s.collateral
        if haircut_value(h.balance, h.price, h.haircut_bps, h.decimals) > 0
    )


@given(
    st.integers(0, 10**15),
    st.dictionaries(st.integers(0, 50), st.integers(0, 10**12), max_size=12),
    st.data(),
)
def test_pro_rata_sums_exactly_respects_caps_and_is_within_one_unit_of_the_exact_share(
    total: int, weights: dict[int, int], data: st.DataObject
) -> None:
    caps = {k: data.draw(st.integers(0, 10**15)) for k in weights}
    parts = pro_rata(total, weights, caps)
    eligible = [k for k, w in weights.items() if w > 0]
    assert sum(parts.values()) == min(total, sum(caps[k] for k in eligible))
    assert all(0 <= parts[k] <= caps[k] for k in weights)
    assert all(parts[k] == 0 for k, w in weights.items() if w == 0)
    # Uncapped: each part is within one unit of its exact share.
    free = pro_rata(total, weights)
    w_sum = sum(weights.values())
    if w_sum:
        assert sum(free.values()) == total
        for k, w in weights.items():
            assert abs(Fraction(free[k]) - Fraction(total * w, w_sum)) < 1


@given(
    st.integers(1, 10**13), st.integers(1, 10**20), st.integers(1, 10**11), st.integers(0, 9_999), st.integers(0, 18)
)
def test_seizure_covers_the_need_at_haircut_value_with_the_least_quantity(
    need: int, balance: int, price: int, haircut: int, decimals: int
) -> None:
    h = CollateralHolding(1, balance, price, haircut, decimals)
    qty, covered = seize_for(need, h)
    assert 0 <= qty <= balance and 0 <= covered <= need
    assert covered == min(need, haircut_value(qty, price, haircut, decimals))
    if qty < balance:
        assert covered == need  # not capped by the balance: the need is met
        assume(qty > 0)
        assert haircut_value(qty - 1, price, haircut, decimals) < need  # and one unit less would not meet it


def test_negative_loss_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_waterfall(state(-1))
