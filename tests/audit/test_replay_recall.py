"""The auditor's replay of issue 11's finding-7 rule, without a chain: inside `settle`, a debit beyond a member's
balance (a transfer row, a contribution row, an ASSESS row) first brings back its pending withdrawals of that
asset, from the end of its pending list (`WithdrawalRecalled`, VaultStorage._recallFor) until the balance covers
it; a DECLARE brings back all of the defaulter's. The replay recalls by the same rule, so its balances, debts and
advance events follow the vault's, and compares its recalls with the vault's WithdrawalRecalled ids of the
settle transaction: a recall no debit needed, or one the vault did not make, is refused."""

from __future__ import annotations

import pytest

from offchain.audit.events.fund import FundState
from offchain.audit.events.replay import AssetMark, ReplayError, VaultReplay
from offchain.audit.events.types import Deposited, MemberAdmitted, Where, WithdrawalCancelled, WithdrawalRequested
from offchain.core.batch import ASSESS, COVER, DECLARE, DEFAULT_FUND_ACCOUNT, Contribution, DefaultAction, Transfer

ALICE, BOB = 4, 5
USD, WETH = 0, 1
AT = Where(block=1, log_index=0, tx_hash=b"t")


def _replay(cash: int, pending: dict[int, tuple[int, int]]) -> VaultReplay:
    """Alice deposited `cash` USD plus what she then asked to withdraw (`pending`: id -> (asset, amount))."""
    r = VaultReplay()
    r.marks[USD] = AssetMark(10**6, 0, 6)
    r.marks[WETH] = AssetMark(2_000 * 10**6, 2_000, 18)
    r.deposited(Deposited(AT, DEFAULT_FUND_ACCOUNT, USD, "0x", 1_000))
    r.deposited(Deposited(AT, ALICE, USD, "0x", cash + sum(a for asset, a in pending.values() if asset == USD)))
    weth = sum(a for asset, a in pending.values() if asset == WETH)
    if weth:
        r.deposited(Deposited(AT, ALICE, WETH, "0x", weth))
    for wid, (asset, amount) in pending.items():
        r.withdrawal_requested(WithdrawalRequested(AT, wid, ALICE, asset, amount, "0x", 0))
    r.take_emitted()
    return r


def _loss(amount: int) -> tuple[Transfer, ...]:
    return (Transfer(account=ALICE, asset=USD, amount=-amount), Transfer(account=BOB, asset=USD, amount=amount))


def test_a_recalled_withdrawal_covers_the_debit_instead_of_an_advance() -> None:
    r = _replay(100, {7: (USD, 50)})
    r.apply_transfers(_loss(120), [7])
    assert r.balances[(ALICE, USD)] == 30 and r.pending == {}
    assert r.debt.get(ALICE, 0) == 0 and r.take_emitted() == []
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 1_000


def test_a_recall_the_vault_did_not_make_is_a_discrepancy() -> None:
    r = _replay(100, {7: (USD, 50)})
    with pytest.raises(ReplayError, match=r"the rules recall withdrawals \[7\], the vault recalled \[\]"):
        r.apply_transfers(_loss(120), [])


def test_a_proposal_recalls_by_the_rule() -> None:
    """A co-signer's proposal has no events: the replay recalls what the vault will."""
    r = _replay(100, {7: (USD, 50)})
    r.apply_transfers(_loss(120), None)
    assert r.recalls == [7] and r.pending == {} and r.debt.get(ALICE, 0) == 0


def test_a_recall_repays_the_members_debt_first() -> None:
    r = _replay(0, {7: (USD, 50)})
    r.debt[ALICE] = 10
    r.apply_transfers(_loss(30), [7])
    assert r.debt[ALICE] == 0 and r.balances[(ALICE, USD)] == 10
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 1_010
    assert r.take_emitted() == [("repaid", ALICE, 10)]


def test_recalls_stop_once_the_balance_covers_the_debit() -> None:
    r = _replay(10, {7: (USD, 50), 8: (USD, 40)})
    r.apply_transfers(_loss(45), [8])  # the vault recalls from the end of the pending list: 8, and that covers
    assert r.balances[(ALICE, USD)] == 5 and set(r.pending) == {7}


@pytest.mark.parametrize(
    ("pending", "recalled", "why"),
    [
        ({7: (USD, 50)}, [7, 7], "no debit of the batch needed"),  # the debit was covered by the first
        ({7: (USD, 500)}, [7, 9], "no debit of the batch needed"),  # an id beyond what the debit took
        ({7: (WETH, 5)}, [7], "no debit of the batch needed"),  # another asset's request
    ],
)
def test_a_recall_no_debit_needed_is_refused(
    pending: dict[int, tuple[int, int]], recalled: list[int], why: str
) -> None:
    r = _replay(100, pending)
    with pytest.raises(ReplayError, match=why):
        r.apply_transfers(_loss(120), recalled)
        r.apply_default_rows((), (), ())  # the batch's last rows: nothing may be left over


def test_the_vaults_pending_order_decides_which_request_comes_back() -> None:
    """Ids leave `_pendingIds` by swapping the last into the gap: after 7 is cancelled, [7, 8, 9] is [9, 8], so
    a debit needing one request recalls 8 (the end of the list), not the newest id 9."""
    r = _replay(0, {7: (USD, 10), 8: (USD, 40), 9: (USD, 40)})
    r.withdrawal_cancelled(WithdrawalCancelled(AT, 7))  # 10 back to the balance
    r.apply_transfers(_loss(30), [8])
    assert set(r.pending) == {9} and r.balances[(ALICE, USD)] == 20


def _with_members(r: VaultReplay) -> VaultReplay:
    for account in (ALICE, BOB):
        r.admitted(MemberAdmitted(AT, f"0x{account:040x}", account))
    return r


def test_a_contribution_beyond_cash_recalls_pending_cash() -> None:
    r = _with_members(_replay(10, {7: (USD, 50), 8: (WETH, 5)}))
    r.apply_transfers((), [7])
    r.apply_default_rows((Contribution(account=ALICE, amount=40),), (), ())
    assert set(r.pending) == {8} and r.balances[(ALICE, USD)] == 20
    assert r.fund.value_of(ALICE) == 40 and r.recalls == [7]


def test_a_contribution_recall_the_vault_did_not_make_is_a_discrepancy() -> None:
    r = _with_members(_replay(10, {7: (USD, 50)}))
    r.apply_transfers((), [])
    with pytest.raises(ReplayError, match="the rules recall withdrawals"):
        r.apply_default_rows((Contribution(account=ALICE, amount=40),), (), ())


def test_transfer_then_contribution_recalls_in_the_vaults_order() -> None:
    r = _with_members(_replay(0, {7: (USD, 30), 8: (USD, 30)}))
    r.apply_transfers(_loss(20), [8, 7])  # the transfer takes 8 (the end of the list), the contribution then 7
    r.apply_default_rows((Contribution(account=ALICE, amount=35),), (), ())
    assert r.recalls == [8, 7] and r.balances[(ALICE, USD)] == 5


def _defaulted(r: VaultReplay, survivor_cash: int, survivor_pending: int) -> VaultReplay:
    """ALICE owes 30 and is in default with nothing to draw; BOB, the only pool share, has his stake drawn by
    the COVER and is assessed what is left."""
    r = _with_members(r)
    r.fund = FundState()
    r.deposited(Deposited(AT, BOB, USD, "0x", survivor_cash + survivor_pending + 10))
    r.apply_transfers((), [])
    r.apply_default_rows((Contribution(account=BOB, amount=10),), (), ())
    if survivor_pending:
        r.withdrawal_requested(WithdrawalRequested(AT, 20, BOB, USD, survivor_pending, "0x", 0))
    r.debt[ALICE] = 30
    r.apply_transfers((), [])
    r.apply_default_rows((), (), (DefaultAction(account=ALICE, action=DECLARE, amount=0),))
    r.take_emitted()
    return r


def test_an_assess_beyond_cash_recalls_pending_cash_before_a_debt() -> None:
    r = _defaulted(_replay(0, {}), survivor_cash=5, survivor_pending=200)
    r.apply_transfers((), [20])
    r.apply_default_rows(
        (),
        (),
        (DefaultAction(account=ALICE, action=COVER, amount=30), DefaultAction(account=BOB, action=ASSESS, amount=20)),
    )
    assert r.recalls == [20] and 20 not in r.pending
    assert r.debt.get(BOB, 0) == 0 and r.balances[(BOB, USD)] == 185 and r.take_emitted() == []


def test_an_assess_beyond_cash_and_pending_is_a_debt_for_the_rest() -> None:
    r = _defaulted(_replay(0, {}), survivor_cash=0, survivor_pending=5)
    r.apply_transfers((), [20])
    r.apply_default_rows(
        (),
        (),
        (DefaultAction(account=ALICE, action=COVER, amount=30), DefaultAction(account=BOB, action=ASSESS, amount=20)),
    )
    assert r.debt[BOB] == 15 and r.take_emitted() == [("advanced", BOB, 15)]


def test_a_declare_recalls_every_pending_request_of_the_defaulter() -> None:
    """A DECLARE's WithdrawalRecalled ids (all of the defaulter's, in the vault's order) are the rules' too:
    they used to be read as transfer recalls that no debit needed."""
    r = _with_members(_replay(0, {7: (USD, 30), 8: (WETH, 2)}))
    r.apply_transfers((), [7, 8])
    r.apply_default_rows((), (), (DefaultAction(account=ALICE, action=DECLARE, amount=0),))
    assert r.pending == {} and r.balances[(ALICE, USD)] == 30 and r.balances[(ALICE, WETH)] == 2
