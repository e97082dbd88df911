"""The auditor's requirement check (offchain/audit/checks/requirements.py) on a replay built by hand, no chain."""

from __future__ import annotations

import pytest

from offchain.audit.checks.requirements import check_requirements
from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import AssetMark, VaultReplay
from offchain.core.batch import SETTLEMENT_ASSET

WETH = 1


def replay(requirements: dict[int, tuple[int, int]], balances: dict[tuple[int, int], int] | None = None) -> VaultReplay:
    v = VaultReplay()
    v.marks = {SETTLEMENT_ASSET: AssetMark(10**6, 0, 6), WETH: AssetMark(2_000 * 10**6, 1_000, 18)}
    v.requirements = dict(requirements)
    v.balances.update(balances or {})
    return v


def finding(accounts: set[int], holders: set[int], vault: VaultReplay) -> str:
    with pytest.raises(Discrepancy) as exc:
        check_requirements(9, accounts, holders, vault)
    assert exc.value.check == "requirements" and exc.value.sequence == 9
    return exc.value.detail


def test_maintenance_above_initial_is_refused_equal_is_not() -> None:
    assert "MM 11 exceeds IM 10" in finding({5}, {5}, replay({5: (10, 11)}))
    check_requirements(9, {5}, {5}, replay({5: (10, 10)}))


def test_a_holder_needs_both_requirements_positive() -> None:
    for im, mm in ((0, 0), (1, 0)):
        assert "holds an open position" in finding({5}, {5}, replay({5: (im, mm)}))
    assert "holds an open position" in finding({5}, {5}, replay({}))  # nothing posted means 0/0
    check_requirements(9, {5}, {5}, replay({5: (1, 1)}))


def test_a_flat_cash_only_member_has_no_requirement() -> None:
    for im, mm in ((1, 0), (1, 1)):
        assert "is flat and holds only cash" in finding({5}, set(), replay({5: (im, mm)}))
    check_requirements(9, {5}, set(), replay({5: (0, 0)}, {(5, SETTLEMENT_ASSET): 10**9}))
    check_requirements(9, {5}, set(), replay({}))


def test_non_cash_collateral_may_carry_a_requirement_but_a_zero_balance_is_not_collateral() -> None:
    check_requirements(9, {5}, set(), replay({5: (3, 1)}, {(5, WETH): 1}))
    assert "is flat" in finding({5}, set(), replay({5: (3, 1)}, {(5, WETH): 0, (6, WETH): 10}))


def test_accounts_are_checked_in_order_and_only_those_named() -> None:
    vault = replay({5: (0, 1), 6: (0, 2), 7: (0, 3)})
    assert finding({7, 6}, {6, 7}, vault).startswith("account 6:")
    check_requirements(9, set(), {5}, vault)
