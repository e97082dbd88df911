"""The auditor's replay of the wind-down estate rules added for issue 11 (third review, findings 4 and 8), without
a chain: anyone's `netEstateForDebt` (an `EstateClaimed` with no `WindDownWithdrawal` after it) nets a debtor's
part of the estate as its own claim would and leaves what exceeds the debt as its balance; an `EstateClaimed`
followed by the member's own `WindDownWithdrawal` is that payout's claim; operator capital (layer 3) paid out
while a default is open is a discrepancy. Numbers as contracts/test/unit/VaultForcedExit.t.sol's
VaultEstateNettingTest / VaultEstateNettingRestTest (DefaultsFixture: shares 10,000 / 6,000 / 4,000)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord, Stake
from offchain.audit.events.replay import AssetMark, ReplayError, VaultReplay
from offchain.audit.events.types import EstateClaimed, Where, WindDownWithdrawal
from offchain.audit.runner import _Replay
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT

ALICE, BOB, CAROL = 4, 5, 6
USD = 0
UNIT = 10**6


def _wound_down(fund_cash: int, alice_debt: int) -> VaultReplay:
    r = VaultReplay()
    r.marks[USD] = AssetMark(UNIT, 0, 6)
    for account, shares in ((ALICE, 10_000 * UNIT), (BOB, 6_000 * UNIT), (CAROL, 4_000 * UNIT)):
        r.fund.stakes[account] = Stake(shares=shares)
    r.fund.shares = 20_000 * UNIT
    r.balances[(DEFAULT_FUND_ACCOUNT, USD)] = fund_cash
    r.total_owed[USD] = fund_cash
    r.debt[ALICE] = alice_debt
    r.wound_down = True
    return r


def _at(tx: bytes, i: int) -> Where:
    return Where(block=1, log_index=i, tx_hash=tx)


def test_netting_a_debtor_that_owes_more_than_its_part_keeps_it_all() -> None:
    r = _wound_down(30_000 * UNIT, 30_000 * UNIT)
    due, netted = r.estate_netted(EstateClaimed(_at(b"t", 0), ALICE, USD, 15_000 * UNIT, 15_000 * UNIT))
    assert (due, netted) == (15_000 * UNIT, 15_000 * UNIT)
    assert r.debt[ALICE] == 15_000 * UNIT
    assert r.balances.get((ALICE, USD), 0) == 0
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 30_000 * UNIT, "the netted part stays in the estate"
    assert r.total_owed[USD] == 30_000 * UNIT


def test_netting_leaves_what_exceeds_the_debt_as_its_balance() -> None:
    r = _wound_down(65_000 * UNIT, 5_000 * UNIT)
    due, netted = r.estate_netted(EstateClaimed(_at(b"t", 0), ALICE, USD, 32_500 * UNIT, 5_000 * UNIT))
    assert (due, netted) == (32_500 * UNIT, 5_000 * UNIT)
    assert r.debt[ALICE] == 0
    assert r.balances[(ALICE, USD)] == 27_500 * UNIT
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 37_500 * UNIT
    assert r.total_owed[USD] == 65_000 * UNIT, "still owed: now as her balance"


def test_netting_refused_before_the_wind_down_or_without_a_debt() -> None:
    r = _wound_down(30_000 * UNIT, 0)
    with pytest.raises(ReplayError, match="without a debt"):
        r.estate_netted(EstateClaimed(_at(b"t", 0), ALICE, USD, 1, 0))
    r = _wound_down(30_000 * UNIT, 1)
    r.wound_down = False
    with pytest.raises(ReplayError, match="before the wind-down"):
        r.estate_netted(EstateClaimed(_at(b"t", 0), ALICE, USD, 1, 1))


def test_operator_capital_paid_while_a_default_is_open_is_refused() -> None:
    r = _wound_down(0, 0)
    r.balances[(OPERATOR_CAPITAL_ACCOUNT, USD)] = 5_000 * UNIT
    r.total_owed[USD] += 5_000 * UNIT
    r.fund.defaults[ALICE] = DefaultRecord(0, 0, 1, 0, True)
    r.fund.open = 1
    payout = WindDownWithdrawal(_at(b"t", 0), OPERATOR_CAPITAL_ACCOUNT, USD, "0x0", 5_000 * UNIT, 0)
    with pytest.raises(ReplayError, match="layer 3"):
        r.wind_down_withdrawal(payout)
    r.fund.open = 0
    assert r.wind_down_withdrawal(payout) == (5_000 * UNIT, 0)


def _walker(r: VaultReplay) -> _Replay:
    # the estate events touch only the replay and the holding window; the other collaborators stay unused
    none = cast(Any, None)
    return _Replay(
        lines=iter(()), chain=none, fills=none, anchors=none, calls=none, operators=none, margin=none, replay=r
    )


def test_an_estate_claim_alone_in_its_transaction_is_a_netting() -> None:
    r = _wound_down(65_000 * UNIT, 5_000 * UNIT)
    w = _walker(r)
    w.apply(EstateClaimed(_at(b"net", 0), ALICE, USD, 32_500 * UNIT, 5_000 * UNIT))
    w.end_of_transaction()
    assert r.balances[(ALICE, USD)] == 27_500 * UNIT
    assert r.debt[ALICE] == 0


def test_a_netting_the_rules_do_not_give_is_a_discrepancy() -> None:
    w = _walker(_wound_down(65_000 * UNIT, 5_000 * UNIT))
    w.apply(EstateClaimed(_at(b"net", 0), ALICE, USD, 32_500 * UNIT, 4_000 * UNIT))
    with pytest.raises(Discrepancy, match="netted"):
        w.end_of_transaction()


def test_an_estate_claim_before_the_members_payout_is_that_payouts_claim() -> None:
    r = _wound_down(30_000 * UNIT, 0)
    w = _walker(r)
    w.apply(EstateClaimed(_at(b"wd", 0), BOB, USD, 9_000 * UNIT, 0))
    w.apply(WindDownWithdrawal(_at(b"wd", 1), BOB, USD, "0x0", 9_000 * UNIT, 0))
    w.end_of_transaction()
    assert r.estate_claimed[(BOB, USD)] == 9_000 * UNIT, "claimed once, by the payout's replay"
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 21_000 * UNIT
