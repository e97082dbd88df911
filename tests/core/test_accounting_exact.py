"""The accounting rules, exactly: 1-unit rounding of VM, funding and fees, notional, netting and the residual."""

from __future__ import annotations

import pytest

from offchain.core.accounting import (
    BPS,
    RATE_SCALE,
    CashFlow,
    clearing_fee,
    funding_payment,
    net_transfers,
    notional,
    pow10,
    variation_margin,
    with_rounding_residual,
)
from offchain.core.batch import FEE_ACCOUNT, SETTLEMENT_ASSET, Transfer


def test_scales() -> None:
    assert (BPS, RATE_SCALE) == (10_000, 10**8)
    assert [pow10(n) for n in (0, 1, 6, 18)] == [1, 10, 10**6, 10**18]
    with pytest.raises(ValueError, match="decimals"):
        pow10(-1)


def test_variation_margin_floors_against_the_member() -> None:
    assert variation_margin(3, [], 10, 11, 1) == 0  # 3 × 1 / 10 = 0.3 → 0
    assert variation_margin(-3, [], 10, 11, 1) == -1  # −0.3 → −1
    assert variation_margin(10, [], 10, 11, 1) == 1
    assert variation_margin(0, [(2, 9), (-1, 12)], None, 11, 0) == 2 * 2 - 1 * -1  # fills only, no old mark
    assert variation_margin(5, [(1, 12)], 10, 11, 0) == 5 - 1


def test_a_position_without_a_previous_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="previous mark"):
        variation_margin(1, [], None, 11, 0)
    assert variation_margin(0, [], None, 11, 0) == 0


def test_funding_longs_pay_a_positive_rate_rounded_against_them() -> None:
    assert funding_payment(1, 100, 10**6, 0) == -1  # 1 × 100 × 1% = 1
    assert funding_payment(-1, 100, 10**6, 0) == 1
    assert funding_payment(1, 150, 10**6, 0) == -2  # −1.5 → −2
    assert funding_payment(-1, 150, 10**6, 0) == 1  # 1.5 → 1
    assert funding_payment(10, 150, 10**6, 1) == -2  # 10 units of 0.1 = 1 × 150 × 1% → −1.5 → −2
    assert funding_payment(1, 100, -(10**6), 0) == 1  # a negative rate: longs receive


def test_fee_is_the_ceiling_of_the_bps_of_notional_for_either_side() -> None:
    assert clearing_fee(1, 10_000, 1, 0) == 1
    assert clearing_fee(1, 10_001, 1, 0) == 2  # 1.0001 → 2
    assert clearing_fee(-1, 10_001, 1, 0) == 2  # the seller pays the same
    assert clearing_fee(1, 9_999, 1, 0) == 1
    assert clearing_fee(10, 10_000, 1, 1) == 1
    assert clearing_fee(5, 7, 0, 0) == 0


def test_notional_is_the_floor_of_abs_qty_times_price() -> None:
    assert notional(-3, 7, 1) == 2  # 21 / 10 → 2
    assert notional(3, 7, 0) == 21
    assert notional(0, 7, 0) == 0


def test_rounding_residual_goes_to_the_fee_account_and_value_is_never_created() -> None:
    flows = [CashFlow(5, "BTC", "vm", -3), CashFlow(6, "BTC", "vm", 2)]
    assert with_rounding_residual(flows) == [*flows, CashFlow(FEE_ACCOUNT, None, "rounding", 1)]
    balanced = [CashFlow(5, "BTC", "vm", -2), CashFlow(6, "BTC", "vm", 2)]
    assert with_rounding_residual(balanced) == balanced
    with pytest.raises(ValueError, match="rounding created value: residual -1"):
        with_rounding_residual([CashFlow(5, "BTC", "vm", 1)])


def test_net_transfers_one_per_account_in_account_order_without_zeros() -> None:
    flows = [
        CashFlow(9, "BTC", "vm", 5),
        CashFlow(4, "BTC", "vm", -7),
        CashFlow(9, "ETH", "fee", -5),
        CashFlow(6, None, "rounding", 2),
    ]
    assert net_transfers(flows) == (
        Transfer(account=4, asset=SETTLEMENT_ASSET, amount=-7),
        Transfer(account=6, asset=SETTLEMENT_ASSET, amount=2),
    )
