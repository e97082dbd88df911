"""The auditor's replay of issue 11's finding-7 rule, without a chain: inside `settle`, a debit beyond a member's
balance first brings back its pending withdrawals of that asset (`WithdrawalRecalled`, Vault._recallFor) until
the balance covers it; the replay takes the recalled ids of the settle transaction in the same places, so its
balances, debts and advance events follow the vault's, and refuses a recall no debit needed."""

from __future__ import annotations

import pytest

from offchain.audit.events.replay import AssetMark, ReplayError, VaultReplay
from offchain.audit.events.types import Deposited, Where, WithdrawalRequested
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, Transfer

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


def test_without_the_recall_the_same_rows_draw_an_advance() -> None:
    r = _replay(100, {7: (USD, 50)})
    r.apply_transfers(_loss(120))
    assert r.balances[(ALICE, USD)] == 0 and 7 in r.pending
    assert r.debt[ALICE] == 20 and r.take_emitted() == [("advanced", ALICE, 20)]


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
