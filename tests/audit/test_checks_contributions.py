"""The contribution and approval rules (offchain/audit/checks/contributions.py, approvals.py) at their
boundaries, on hand-made states: a top-up exactly to the target or exactly the member's cash, a return exactly
down to the target, an approval that leaves equity exactly at the re-derived IM."""

from __future__ import annotations

import pytest

from offchain.audit.checks.approvals import check_approvals
from offchain.audit.checks.contributions import FundBefore, check_contributions, check_frozen
from offchain.audit.checks.rederive import Expected
from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord
from offchain.audit.events.replay import AssetMark, Pending, VaultReplay
from offchain.audit.model import Rederived
from offchain.core.batch import COVER, DECLARE, Batch, Contribution, DefaultAction, WithdrawalApproval

A, B = 4, 5
ZERO32 = b"\x00" * 32


def batch(*rows: tuple[int, int], actions: tuple[DefaultAction, ...] = (), approvals: tuple[int, ...] = ()) -> Batch:
    return Batch(
        sequence=9,
        prev_hash=ZERO32,
        as_of=1,
        contributions=tuple(Contribution(account=a, amount=v) for a, v in rows),
        default_actions=actions,
        approved_withdrawals=approvals,
    )


def before(
    values: dict[int, int], cash: dict[int, int], floor: dict[int, int] | None = None, open_: int = 0
) -> FundBefore:
    return FundBefore(values, cash, floor if floor is not None else dict(cash), open_)


TARGETS = {A: (1_000_000_000, 1_000_000_000), B: (500_000_000, 500_000_000)}
TOL = 1 + 1_000_000_000 // 1_000_000  # tolerance of A's target


def expect(b: Batch, f: FundBefore, *words: str) -> None:
    with pytest.raises(Discrepancy) as caught:
        check_contributions(b, f, TARGETS)
    assert (caught.value.check, caught.value.sequence) == ("contribution", 9), str(caught.value)
    for w in words:
        assert w in str(caught.value), str(caught.value)


def test_top_ups_to_the_target_or_to_the_cash_pass() -> None:
    f = before({A: 0, B: 100_000_000}, {A: 10**12, B: 10**12})
    check_contributions(batch((A, 1_000_000_000), (B, 400_000_000)), f, TARGETS)
    # within the tolerance either way
    check_contributions(batch((A, 1_000_000_000 + TOL), (B, 400_000_000)), f, TARGETS)
    check_contributions(batch((A, 1_000_000_000 - TOL), (B, 400_000_000)), f, TARGETS)
    # cash-limited: the whole cash the engine can have read
    poor = before({A: 0, B: 100_000_000}, {A: 7, B: 10**12}, {A: 7, B: 10**12})
    check_contributions(batch((A, 7), (B, 400_000_000)), poor, TARGETS)
    check_contributions(batch((B, 400_000_000)), before({A: 0, B: 100_000_000}, {A: 0, B: 10**12}), TARGETS)


def test_a_top_up_beyond_the_target_is_refused() -> None:
    f = before({A: 0, B: 100_000_000}, {A: 10**12, B: 10**12})
    expect(batch((A, 1_000_000_000 + TOL + 1), (B, 400_000_000)), f, "account 4 is topped up by", "target 1000000000")


def test_a_short_top_up_with_cash_is_refused() -> None:
    f = before({A: 0, B: 100_000_000}, {A: 10**12, B: 10**12})
    expect(batch((A, 1_000_000_000 - TOL - 1), (B, 400_000_000)), f, "account 4", "though it held")
    expect(batch((A, 1_000_000_000)), f, "account 5 is topped up by 0")
    # the cash the engine can have read bounds what it owed: less than the cash now
    poor = before({A: 0, B: 100_000_000}, {A: 10**12, B: 10**12}, {A: 300_000_000, B: 10**12})
    check_contributions(batch((A, 300_000_000 - TOL), (B, 400_000_000)), poor, TARGETS)
    with pytest.raises(Discrepancy, match="though it held 300000000"):
        check_contributions(batch((A, 300_000_000 - TOL - 1), (B, 400_000_000)), poor, TARGETS)


def test_a_return_below_the_target_is_refused() -> None:
    f = before({A: 2_000_000_000, B: 500_000_000}, {A: 0, B: 0})
    check_contributions(batch((A, -1_000_000_000)), f, TARGETS)
    expect(batch((A, -1_000_000_000 - TOL - 1)), f, "account 4 is returned", "down to")


def test_a_batch_without_contribution_rows_is_not_judged() -> None:
    check_contributions(batch(), before({A: 0}, {A: 10**12}), TARGETS)


def test_contributions_are_frozen_during_a_default() -> None:
    f = before({A: 0}, {A: 10**12})
    check_frozen(batch((A, 5)), f)
    check_frozen(batch(actions=(DefaultAction(account=B, action=DECLARE, amount=0),)), f)
    check_frozen(batch((A, 5), actions=(DefaultAction(account=B, action=COVER, amount=1),)), f)
    with pytest.raises(Discrepancy, match="1 default\\(s\\) open") as caught:
        check_frozen(batch((A, 5)), before({A: 0}, {A: 10**12}, open_=1))
    assert caught.value.check == "contribution"
    with pytest.raises(Discrepancy, match="it DECLAREs \\[5\\]"):
        check_frozen(batch((A, 5), actions=(DefaultAction(account=B, action=DECLARE, amount=0),)), f)


def test_fund_before_takes_the_lowest_cash_the_engine_can_have_read() -> None:
    r = VaultReplay()
    r.accounts = {A: "0xa", B: "0xb"}
    r.balances[(A, 0)] = 900  # after the batch's transfers
    r.balances[(B, 0)] = 50
    f = FundBefore.of(r, cash_low={A: 100}, cash_before={A: 1_000, B: 40})
    # A held 1,000 before the transfers (-100 of them), down to 100 earlier: the engine read at least 100 - 100
    assert f.cash == {A: 900, B: 50}
    assert f.cash_floor == {A: 0, B: 50}
    assert f.values == {A: 0, B: 0} and f.open_defaults == 0


# ---------------------------------------------------------------- approvals


def approval_state(equity: int) -> VaultReplay:
    r = VaultReplay()
    r.marks[0] = AssetMark(1, 0, 0)
    r.accounts = {A: "0xa"}
    r.balances[(A, 0)] = equity
    r.pending[3] = Pending(A, 0, 77)
    return r


def approve(wid: int = 3, account: int = A, amount: int = 77) -> Batch:
    return batch(approvals=(WithdrawalApproval(id=wid, account=account, asset=0, amount=amount).pack(),))


IM = 1_000_000_000
TOL_IM = 1 + IM // 1_000_000


def expected(im: int = IM, floor: int | None = None) -> Expected:
    r = Rederived(im=im, mm=im // 2, haircut_bps={}, floor_im=floor)
    return Expected(9, {A: r}, {A: r})


def test_an_approval_leaving_equity_at_the_re_derived_im_passes() -> None:
    check_approvals(approve(), approval_state(IM - TOL_IM), expected())
    # under the rise cap, the stressed floor is the least IM
    check_approvals(approve(), approval_state(IM // 2), expected(floor=IM // 2))
    # an approval of a withdrawal no longer pending is skipped by the vault
    check_approvals(approve(wid=4), approval_state(0), expected())


def test_an_approval_beyond_free_collateral_is_refused() -> None:
    with pytest.raises(Discrepancy) as caught:
        check_approvals(approve(), approval_state(IM - TOL_IM - 1), expected())
    d = caught.value
    assert (d.check, d.sequence) == ("withdrawal-approval", 9)
    assert "withdrawal 3 of 77 of asset 0 by account 4" in str(d) and f"re-derived IM {IM}" in str(d)
    with pytest.raises(Discrepancy, match="below the re-derived IM 500000000"):
        check_approvals(approve(), approval_state(IM // 4), expected(floor=IM // 2))


def test_no_approval_in_default_or_without_a_re_derived_im() -> None:
    r = approval_state(10 * IM)
    r.fund.defaults[A] = DefaultRecord(1, 1, 0, 0, True)
    with pytest.raises(Discrepancy, match="in default"):
        check_approvals(approve(), r, expected())
    with pytest.raises(Discrepancy, match="cannot be re-derived: account 4: overflow"):
        check_approvals(approve(), approval_state(10 * IM), Expected(9, {A: "account 4: overflow"}, {}))
    with pytest.raises(Discrepancy, match="not a member"):
        check_approvals(approve(), approval_state(10 * IM), Expected(9, {}, {}))


def refusal(b: Batch, f: FundBefore, targets: dict[int, tuple[int, int]] | None = None) -> str:
    with pytest.raises(Discrepancy) as caught:
        check_contributions(b, f, TARGETS if targets is None else targets)
    assert (caught.value.check, caught.value.sequence) == ("contribution", 9)
    return caught.value.detail


def test_the_refusal_states_the_contribution_and_the_target() -> None:
    f = before({A: 0, B: 100_000_000}, {A: 10**12, B: 10**12})
    over = 1_000_000_000 + TOL + 1
    assert refusal(batch((A, over), (B, 400_000_000)), f) == (
        f"account 4 is topped up by {over} to {over}: contribution 0, Cover-2 target 1000000000"
    )
    wide = {A: (900_000_000, 1_000_000_000), B: TARGETS[B]}
    assert refusal(batch((A, over), (B, 400_000_000)), f, wide).endswith("Cover-2 target 900000000..1000000000")
    # a member without a contribution yet, nor a row: contribution 0, topped up by 0
    assert refusal(batch((B, 500_000_000)), before({}, {A: 10**12, B: 10**12})) == (
        "account 4 is topped up by 0 to 0 though it held 1000000000000 of cash: "
        "contribution 0, Cover-2 target 1000000000"
    )


def test_a_row_for_an_account_with_no_target_is_judged_against_zero() -> None:
    f = before({A: 0}, {A: 10**12})
    assert refusal(batch((A, 2)), f, {}) == "account 4 is topped up by 2 to 2: contribution 0, Cover-2 target 0"
    check_contributions(batch((A, 1)), f, {})  # within the tolerance of 1


def test_one_unit_beyond_the_target_and_one_unit_returned_below_it_are_refused() -> None:
    top = before({A: 1_000_000_000 + TOL, B: 500_000_000}, {A: 10**12, B: 10**12})
    assert "topped up by 1 " in refusal(batch((A, 1)), top)
    low = before({A: 1_000_000_000 - TOL, B: 500_000_000}, {A: 0, B: 0})
    assert "returned 1, down to" in refusal(batch((A, -1)), low)


def test_an_excess_kept_or_returned_exactly_to_the_edge_passes() -> None:
    # an excess below the engine's return threshold is kept: no row for it
    kept = before({A: 1_050_000_000, B: 0}, {A: 10**12, B: 10**12})
    check_contributions(batch((B, 500_000_000)), kept, TARGETS)
    # a return down to exactly the target less the tolerance
    edge = before({A: 2_000_000_000, B: 500_000_000}, {A: 0, B: 0})
    check_contributions(batch((A, -1_000_000_000 - TOL)), edge, TARGETS)


def test_fund_before_reads_missing_balances_as_zero() -> None:
    r = VaultReplay()
    r.accounts = {A: "0xa", B: "0xb"}
    r.balances[(B, 0)] = 70
    f = FundBefore.of(r, cash_low={B: 0}, cash_before={A: 5})
    # A: no balance now (0), held 5 before the transfers and never less; B: no cash before recorded (0), its
    # lowest 0: nothing taken off what it holds now
    assert f.cash == {A: 0, B: 70}
    assert f.cash_floor == {A: 0, B: 70}


def test_a_served_exit_is_approved_what_leaves_equity_at_zero() -> None:
    """A flat member with an open exit request and IM 0 / MM 0 in force (the exit served, as `im-rederive`
    accepts it): its withdrawal needs equity >= 0, not the model's IM of its collateral's concentration."""
    r = approval_state(0)
    flat = Expected(9, {A: Rederived(im=IM, mm=IM // 2, haircut_bps={})}, {}, frozenset({A}))
    check_approvals(approve(), r, flat)
    r.debt[A] = 1  # equity -1: below what the vault asks at execution
    with pytest.raises(Discrepancy, match="leaves equity -1"):
        check_approvals(approve(), r, flat)
    # not served: a requirement posted (or no open request) holds it to the re-derived IM
    posted = approval_state(0)
    posted.requirements[A] = (5, 1)
    with pytest.raises(Discrepancy, match=f"below the re-derived IM {IM}"):
        check_approvals(approve(), posted, flat)
    with pytest.raises(Discrepancy, match=f"below the re-derived IM {IM}"):
        check_approvals(approve(), approval_state(0), expected())
    # served even with no re-derivation in base units
    check_approvals(approve(), approval_state(0), Expected(9, {A: "account 4: overflow"}, {}, frozenset({A})))


def test_a_served_exits_whole_return_passes_in_a_batch_that_did_not_recompute() -> None:
    """Issue 11, fourth review, finding 5: the engine returns a served exit's whole contribution (IM 0 after
    the batch, an open request) in any unfrozen batch. Such a batch did not recompute: B, short of its target
    with the cash to top up, is not judged; the leaving member is not judged against its target either."""
    f = before({A: 2_000_000_000, B: 100_000_000}, {A: 0, B: 10**12})
    check_contributions(batch((A, -2_000_000_000)), f, TARGETS, frozenset({A}))
    with pytest.raises(Discrepancy, match="topped up"):  # not leaving: judged as a recompute
        check_contributions(batch((A, -1_000_000_000)), f, TARGETS)
    # Beside a recompute the others are judged as before.
    with pytest.raises(Discrepancy, match="topped up"):
        check_contributions(batch((A, -2_000_000_000), (B, 1)), f, TARGETS, frozenset({A}))


def test_a_served_exit_returned_in_part_is_refused() -> None:
    f = before({A: 2_000_000_000}, {A: 0})
    with pytest.raises(Discrepancy, match="whole contribution 2000000000 is returned"):
        check_contributions(batch((A, -1_999_999_999)), f, TARGETS, frozenset({A}))
    # A leaving member the fund does not know has nothing to get back: a row of 0 is its whole contribution.
    check_contributions(batch((A, 0)), before({}, {}), TARGETS, frozenset({A}))
