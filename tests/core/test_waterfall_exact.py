"""The waterfall mirror, exactly: L6's eligibility, ADL ranking and counting, pro-rata validation and boundaries,
1-unit seizures and haircut values, and the layer capacities (what test_waterfall.py's properties only bound)."""

from __future__ import annotations

import pytest

from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET
from offchain.core.waterfall import (
    AdlAllocation,
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
    rank_adl,
    seize_for,
)

DEFAULTER = 7
WETH = CollateralHolding(asset=1, balance=10**18, price=2_000 * 10**6, haircut_bps=1_000, decimals=18)


def bare(loss: int, **kw: object) -> WaterfallInput:
    """A default with nothing on-chain to draw from unless `kw` adds it."""
    base: dict[str, object] = {
        "defaulter": DEFAULTER,
        "loss": loss,
        "collateral": (),
        "contribution": 0,
        "operator_capital": 0,
        "pool": Pool(0, 0),
        "pool_at_declare": Pool(0, 0),
        "survivors": (),
    }
    base.update(kw)
    return WaterfallInput(**base)  # type: ignore[arg-type]


def vm(account: int, value: int) -> Draw:
    return Draw(Layer.VM_HAIRCUT, account, SETTLEMENT_ASSET, value, value)


def test_vm_haircut_takes_only_positive_gains_of_members_other_than_the_defaulter() -> None:
    gains = {DEFAULTER: 500, 3: 300, 4: 100, 5: 0, 6: -50}
    plan = plan_waterfall(bare(200, vm_gains=gains))
    assert plan.vm_haircuts == (vm(3, 150), vm(4, 50))
    assert plan.uncovered == 0
    capped = plan_waterfall(bare(1_000, vm_gains=gains))
    assert capped.vm_haircuts == (vm(3, 300), vm(4, 100)) and capped.uncovered == 600
    assert capped.by_layer()[Layer.VM_HAIRCUT] == 400


def test_no_vm_haircut_when_the_layers_above_cover_the_loss() -> None:
    plan = plan_waterfall(bare(100, operator_capital=100, vm_gains={3: 300}))
    assert plan.vm_haircuts == () and plan.uncovered == 0
    assert plan.draws == (Draw(Layer.OPERATOR_CAPITAL, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, 100, 100),)


def test_adl_ranks_only_profitable_positions_with_its_tie_breaks() -> None:
    candidates = [
        AdlCandidate(30, "ETH", 1, 0),  # no profit: not ranked
        AdlCandidate(31, "ETH", 1, -5),
        AdlCandidate(32, "ETH", -2, 10),
        AdlCandidate(33, "BTC", 5, 10),  # same profit, larger |qty| first
        AdlCandidate(29, "ETH", 2, 10),  # same profit and |qty| as 32: lower account first
        AdlCandidate(29, "BTC", -2, 10),  # and then instrument
        AdlCandidate(34, "ETH", 1, 1),
    ]
    assert rank_adl(candidates) == [
        AdlAllocation(1, 33, "BTC", 5, 10, 0),
        AdlAllocation(2, 29, "BTC", -2, 10, 0),
        AdlAllocation(3, 29, "ETH", 2, 10, 0),
        AdlAllocation(4, 32, "ETH", -2, 10, 0),
        AdlAllocation(5, 34, "ETH", 1, 1, 0),
    ]


def test_adl_takes_in_rank_order_and_counts_a_one_unit_take() -> None:
    adl = (AdlCandidate(40, "BTC", 1, 5), AdlCandidate(41, "BTC", 1, 3))
    one = plan_waterfall(bare(1, adl_candidates=adl))
    assert [(a.rank, a.account, a.amount) for a in one.adl] == [(1, 40, 1), (2, 41, 0)]
    assert one.adl_count == 1 and one.uncovered == 0 and one.by_layer()[Layer.ADL] == 1
    more = plan_waterfall(bare(7, adl_candidates=adl))
    assert [a.amount for a in more.adl] == [5, 2] and more.adl_count == 2
    beyond = plan_waterfall(bare(9, adl_candidates=adl))
    assert [a.amount for a in beyond.adl] == [5, 3] and beyond.uncovered == 1
    none = plan_waterfall(bare(0, adl_candidates=adl))
    assert [a.amount for a in none.adl] == [0, 0] and none.adl_count == 0 and none.draws == ()


def test_pro_rata_refuses_negative_inputs() -> None:
    with pytest.raises(ValueError, match="total >= 0"):
        pro_rata(-1, {1: 1})
    with pytest.raises(ValueError, match="weights >= 0"):
        pro_rata(1, {1: 1, 2: -1})
    with pytest.raises(ValueError, match="caps must be >= 0"):
        pro_rata(1, {1: 1, 2: 1}, {1: 1, 2: -1})


def test_pro_rata_gives_zero_to_zero_weights_and_zero_caps() -> None:
    assert pro_rata(10, {1: 0, 2: 1, 3: 1}) == {1: 0, 2: 5, 3: 5}
    assert pro_rata(10, {1: 1, 2: 1}, {1: 0, 2: 10}) == {1: 0, 2: 10}
    assert pro_rata(0, {1: 1, 2: 3}) == {1: 0, 2: 0}
    assert pro_rata(10, {1: 0}) == {1: 0}
    assert pro_rata(10, {}) == {}


def test_pro_rata_remainders_go_to_the_largest_fraction_then_the_lower_account() -> None:
    assert pro_rata(1, {1: 1, 2: 1}) == {1: 1, 2: 0}
    assert pro_rata(1, {2: 1, 1: 1}) == {1: 1, 2: 0}
    assert pro_rata(5, {1: 1, 2: 2}) == {1: 2, 2: 3}  # 1.67 / 3.33: the larger remainder (.67) gets the unit
    assert pro_rata(7, {1: 1, 2: 1, 3: 1}) == {1: 3, 2: 2, 3: 2}


def test_pro_rata_water_fills_around_caps() -> None:
    assert pro_rata(10, {1: 1, 2: 1, 3: 2}, {1: 1, 2: 10, 3: 10}) == {1: 1, 2: 3, 3: 6}
    assert pro_rata(10, {1: 1, 2: 1}, {1: 2, 2: 3}) == {1: 2, 2: 3}  # capacity below the total
    assert pro_rata(4, {1: 1, 2: 1}, {1: 2, 2: 5}) == {1: 2, 2: 2}  # an exact share equal to its cap
    assert pro_rata(6, {1: 1, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 10}) == {1: 1, 2: 1, 3: 4}


def test_haircut_value_at_one_unit() -> None:
    assert haircut_value(1, 10**6, 0, 0) == 10**6
    assert haircut_value(10**18, 1, 0, 18) == 1
    assert haircut_value(0, 10**6, 0, 0) == 0
    assert haircut_value(10**6, 0, 0, 0) == 0
    assert haircut_value(3, 7, 1, 0) == 20  # 3 × 7 × 9999 / 10000 = 20.9979 → 20
    assert haircut_value(1, 10**4, 9_999, 0) == 1


def test_seizing_one_unit_of_need_rounds_the_quantity_up() -> None:
    qty, covered = seize_for(1, WETH)
    assert (qty, covered) == (555_555_556, 1)  # 10**22 / (2000e6 × 9000) = 555,555,555.6 → up
    assert haircut_value(qty - 1, WETH.price, WETH.haircut_bps, WETH.decimals) == 0
    assert seize_for(0, WETH) == (0, 0)
    assert seize_for(-1, WETH) == (0, 0)
    assert seize_for(10**30, WETH) == (10**18, 1_800 * 10**6)  # capped at the balance and its value
    assert seize_for(1, CollateralHolding(1, 0, 10**6, 0, 0)) == (0, 0)
    assert seize_for(5, CollateralHolding(1, 10, 1, 9_999, 0)) == (10, 0)  # 10 units are worth 0 at floor
    assert seize_for(5, CollateralHolding(1, 10, 10_000, 9_999, 0)) == (5, 5)
    assert seize_for(1, CollateralHolding(1, 10, 10_000, 10_000, 0)) == (0, 0)


def test_dust_collateral_worth_nothing_at_floor_is_not_seized() -> None:
    dust = CollateralHolding(asset=2, balance=10, price=1, haircut_bps=9_999, decimals=0)
    plan = plan_waterfall(bare(5, collateral=(dust,), contribution=5, pool=Pool(5, 5)))
    assert plan.draws == (Draw(Layer.OWN_CONTRIBUTION, DEFAULTER, SETTLEMENT_ASSET, 5, 5),)


def test_settlement_asset_collateral_is_never_seized_and_assets_go_in_order() -> None:
    cash = CollateralHolding(SETTLEMENT_ASSET, 10**9, 10**6, 0, 6)
    small = CollateralHolding(asset=2, balance=10, price=1, haircut_bps=0, decimals=0)
    plan = plan_waterfall(bare(15, collateral=(small, cash, CollateralHolding(3, 100, 1, 0, 0))))
    assert plan.draws == (Draw(Layer.COLLATERAL, DEFAULTER, 2, 10, 10), Draw(Layer.COLLATERAL, DEFAULTER, 3, 5, 5))
    assert layer_capacity(bare(15, collateral=(small, cash)))[Layer.COLLATERAL] == 10


def test_each_layer_only_once_the_one_before_is_exhausted_one_unit_at_a_time() -> None:
    pool = Pool(value=12, shares=12)  # the defaulter's 2 plus survivors' 6 + 4
    s = bare(
        2 + 3 + 10 + 1,
        contribution=2,
        operator_capital=3,
        pool=pool,
        pool_at_declare=pool,
        survivors=(Survivor(10, 6, 100), Survivor(11, 4, 100)),
    )
    plan = plan_waterfall(s)
    assert plan.draws == (
        Draw(Layer.OWN_CONTRIBUTION, DEFAULTER, SETTLEMENT_ASSET, 2, 2),
        Draw(Layer.OPERATOR_CAPITAL, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, 3, 3),
        Draw(Layer.SURVIVORS_FUND, DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET, 10, 10),
    )
    assert plan.l4_shares == (
        Draw(Layer.SURVIVORS_FUND, 10, SETTLEMENT_ASSET, 6, 6),
        Draw(Layer.SURVIVORS_FUND, 11, SETTLEMENT_ASSET, 4, 4),
    )
    assert plan.assessments == (Draw(Layer.ASSESSMENT, 10, SETTLEMENT_ASSET, 1, 1),)
    assert plan.cover_amount == 16 and plan.uncovered == 0
    assert plan.by_layer() == {
        Layer.COLLATERAL: 0,
        Layer.OWN_CONTRIBUTION: 2,
        Layer.OPERATOR_CAPITAL: 3,
        Layer.SURVIVORS_FUND: 10,
        Layer.ASSESSMENT: 1,
        Layer.VM_HAIRCUT: 0,
        Layer.ADL: 0,
    }


def test_others_in_default_bear_their_l4_part_but_are_not_listed_or_assessed() -> None:
    pool = Pool(value=10, shares=10)
    s = bare(20, pool=pool, pool_at_declare=pool, survivors=(Survivor(10, 5, 0),), others_shares=5)
    plan = plan_waterfall(s)
    assert plan.draws == (Draw(Layer.SURVIVORS_FUND, DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET, 10, 10),)
    assert plan.l4_shares == (Draw(Layer.SURVIVORS_FUND, 10, SETTLEMENT_ASSET, 5, 5),)
    assert plan.assessments == () and plan.uncovered == 10  # member 10 has no cash to assess


def test_assessment_caps_use_the_pool_at_declare_and_ignore_negative_cash() -> None:
    s = bare(
        100,
        pool=Pool(0, 10),
        pool_at_declare=Pool(value=20, shares=10),
        survivors=(Survivor(10, 5, 100), Survivor(11, 5, -3), Survivor(12, 0, 100)),
    )
    plan = plan_waterfall(s)
    # At DECLARE each of 10 and 11 held 10 of value: caps 2 × 10 = 20, and 0 for 11's negative cash.
    assert plan.assessments == (Draw(Layer.ASSESSMENT, 10, SETTLEMENT_ASSET, 20, 20),)
    assert plan.uncovered == 80
    cap = layer_capacity(s)
    assert cap == {
        Layer.COLLATERAL: 0,
        Layer.OWN_CONTRIBUTION: 0,
        Layer.OPERATOR_CAPITAL: 0,
        Layer.SURVIVORS_FUND: 0,
        Layer.ASSESSMENT: 20,
    }


def test_layer_capacity_of_each_layer() -> None:
    s = bare(
        0,
        collateral=(WETH,),
        contribution=7,
        operator_capital=11,
        pool=Pool(27, 27),
        pool_at_declare=Pool(27, 27),
        survivors=(Survivor(10, 20, 1_000),),
    )
    assert layer_capacity(s) == {
        Layer.COLLATERAL: 1_800 * 10**6,
        Layer.OWN_CONTRIBUTION: 7,
        Layer.OPERATOR_CAPITAL: 11,
        Layer.SURVIVORS_FUND: 20,
        Layer.ASSESSMENT: 40,
    }
    assert layer_capacity(bare(0, contribution=9, pool=Pool(5, 5)))[Layer.SURVIVORS_FUND] == 0


def test_pool_value_of_shares() -> None:
    assert Pool(10, 3).value_of(2) == 6  # floor(20 / 3)
    assert Pool(10, 0).value_of(2) == 0
    assert Pool(10, 10).value_of(10) == 10


def test_negative_loss_is_refused_and_zero_loss_draws_nothing() -> None:
    with pytest.raises(ValueError, match="loss"):
        plan_waterfall(bare(-1))
    plan = plan_waterfall(bare(0, collateral=(WETH,), contribution=5, operator_capital=5, pool=Pool(5, 5)))
    assert plan.draws == () and plan.cover_amount == 0 and plan.uncovered == 0 and plan.external == 0


def test_layer_numbers_are_the_vaults() -> None:
    assert [int(layer) for layer in Layer] == [1, 2, 3, 4, 5, 6, 7]
    assert (Layer.COLLATERAL, Layer.ADL) == (1, 7)


def test_pro_rata_orders_remainders_by_the_exact_fraction() -> None:
    # 5 × 2/3 = 3.33 and 5 × 1/3 = 1.67: the unit left goes to account 2 (remainder 2 of 3), not account 1.
    assert pro_rata(5, {1: 2, 2: 1}) == {1: 3, 2: 2}


def test_a_vm_gain_of_one_unit_is_haircut() -> None:
    plan = plan_waterfall(bare(1, vm_gains={3: 1, 4: 0}))
    assert plan.vm_haircuts == (vm(3, 1),) and plan.uncovered == 0


def test_a_contribution_worth_more_than_the_pool_leaves_nothing_for_the_survivors_fund() -> None:
    # Not a state the vault reaches (the pool includes the defaulter's contribution): L4 is clamped at 0.
    plan = plan_waterfall(bare(20, contribution=9, pool=Pool(5, 5)))
    assert plan.draws == (Draw(Layer.OWN_CONTRIBUTION, DEFAULTER, SETTLEMENT_ASSET, 9, 9),)
    assert plan.l4_shares == () and plan.uncovered == 11
