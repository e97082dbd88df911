"""Which exits a batch serves and which withdrawals it approves (offchain/settlement/builder.py,
`serve_exits` and `exit_approvals`), on a ledger without a chain: the rules the devnet test
(tests/settlement/test_exits.py) runs through once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
from sqlalchemy import Engine, select

from offchain.chain.exits import ExitState, PendingWithdrawal
from offchain.core.batch import DECLARE, Contribution, DefaultAction, MarginCall, Mark, Transfer, WithdrawalApproval
from offchain.core.obligations import Obligations, PendingFill
from offchain.defaults.manager import DefaultRows
from offchain.ingest import registry
from offchain.ledger import schema as t
from offchain.ledger.batch_inputs import SettlementSnapshot
from offchain.ledger.db import open_ledger
from offchain.settlement.builder import (
    BatchBuilder,
    BuilderConfig,
    MarginState,
    SettledObligations,
    free_collateral,
)
from offchain.settlement.margin import CollateralSpec, MemberMargin

USDC = 10**6
WETH = 10**18
COLLATERAL = (CollateralSpec(0, "USDC", 6, None), CollateralSpec(1, "WETH", 18, "ETH"))
MARKS = (Mark(asset=0, haircut_bps=0, price=USDC), Mark(asset=1, haircut_bps=2_000, price=2_000 * USDC))
BTC = "BTC-USD-PERP"


@pytest.fixture
def ledger(tmp_path: Any) -> Iterator[Engine]:
    engine = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.begin() as conn:
        for account in range(11, 17):
            registry.admit_member(conn, account, "0x" + f"{account:040x}", f"m{account}", "hedge_fund", "tier1", "x")
        registry.set_member_status(conn, 13, "defaulted")
    yield engine
    engine.dispose()


def builder(max_fills: int = 10) -> BatchBuilder:
    # serve_exits and exit_approvals read neither the risk model nor the guard.
    return BatchBuilder(cast(Any, None), COLLATERAL, BuilderConfig(max_fills=max_fills))


def snapshot(fills: int = 0) -> SettlementSnapshot:
    pending = [_fill(i, 11, 12) for i in range(fills)]
    return SettlementSnapshot({}, {}, {}, pending, [], [(a, "tier1") for a in range(11, 17)], {}, {})


def _fill(i: int, buyer: int, seller: int) -> PendingFill:
    return PendingFill(i, "dex", f"f{i}", "BTC-PERP", BTC, buyer, seller, "0x", "0x", 1, 1, 0, b"")


def settled(
    positions: dict[tuple[int, str], int] | None = None,
    deferred: list[PendingFill] | None = None,
    transfers: tuple[Transfer, ...] = (),
) -> SettledObligations:
    ob = Obligations(flows=[], settled_fills=[], deferred_fills=deferred or [], marks_used={}, funding_applied=[])
    return SettledObligations(ob, positions or {}, transfers)


def margin(im: int = 7 * USDC, error: str | None = None) -> MemberMargin:
    return MemberMargin(im, im // 2, 0, 0.0, 0.0, 0.0, error=error)


def test_a_flat_exiting_member_is_served_and_no_other(ledger: Engine) -> None:
    members = {a: margin() for a in range(11, 17)}
    members[15] = margin(error="account 15: no base units")
    exits = ExitState(open=frozenset({11, 12, 13, 14, 15, 17}))
    after = settled(positions={(12, BTC): 10}, deferred=[_fill(99, 14, 16)])
    with ledger.connect() as conn:
        # 11: flat; 12 holds BTC; 13 is defaulted; 14 has a fill this batch defers; 15 has no base units; 16
        # asked nothing; 17 is no member of the ledger.
        assert builder().serve_exits(conn, snapshot(), after, members, exits) == frozenset({11})
        # Pending fills beyond the batch's limit may name anyone: nobody is served until they are settled.
        assert builder(max_fills=3).serve_exits(conn, snapshot(fills=3), after, members, exits) == frozenset()


def test_an_exit_not_served_raises_one_alert_per_request(ledger: Engine) -> None:
    b = builder()
    members = {a: margin() for a in range(11, 17)}
    holding = settled(positions={(12, BTC): 10})
    for step in range(3):
        with ledger.begin() as conn:
            b.serve_exits(conn, snapshot(), holding, members, ExitState(open=frozenset({11, 12, 13})), step)
    with ledger.connect() as conn:
        rows = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject, t.alerts.c.detail)).all()
    assert [(k, s) for k, s, _ in rows] == [("exit_unserved", "12"), ("exit_unserved", "13")]
    assert "holds positions" in rows[0][2] and "defaulted" in rows[1][2]
    # Cancelled, then asked again: a new request, a new alert.
    with ledger.begin() as conn:
        b.serve_exits(conn, snapshot(), holding, members, ExitState(open=frozenset({13})), 3)
        b.serve_exits(conn, snapshot(), holding, members, ExitState(open=frozenset({12, 13})), 4)
    with ledger.connect() as conn:
        assert conn.execute(select(t.alerts.c.subject).where(t.alerts.c.ts_ms == 4)).scalars().all() == ["12"]


def state(served: frozenset[int], holdings: dict[tuple[int, int], int]) -> MarginState:
    return MarginState({0: USDC, 1: 2_000 * USDC}, holdings, {}, {}, (), (), MARKS, served)


def approval(w: PendingWithdrawal) -> int:
    return WithdrawalApproval(id=w.id, account=w.account, asset=w.asset, amount=w.amount).pack()


def test_withdrawals_of_served_members_are_approved_within_margin_and_budget() -> None:
    w1 = PendingWithdrawal(1, 11, 0, 40 * USDC, 10**9)
    w2 = PendingWithdrawal(2, 11, 0, 30 * USDC, 10**9)  # beyond what the budget has left after w1
    w3 = PendingWithdrawal(3, 11, 1, WETH, 10**9)
    w4 = PendingWithdrawal(4, 12, 0, USDC, 10**9)  # account 12 owes more than its collateral is worth
    w5 = PendingWithdrawal(5, 14, 0, USDC, 10**9)  # account 14 is not served this batch
    exits = ExitState(
        open=frozenset({11, 12, 14}),
        withdrawals=(w1, w2, w3, w4, w5),
        debts={12: 1_600 * USDC + 1},
        outflow_left={0: 50 * USDC, 1: 10 * WETH},
    )
    # Account 12: 1 WETH at 2,000 with a 20 % haircut is worth 1,600, one base unit less than its debt.
    held = {(11, 0): 100 * USDC, (12, 1): WETH, (14, 0): 100 * USDC}
    m = state(frozenset({11, 12}), held)
    assert builder().exit_approvals(exits, settled(), m, DefaultRows()) == (approval(w1), approval(w3))
    covered = replace(exits, debts={12: 1_600 * USDC})  # a debt its collateral covers exactly
    assert builder().exit_approvals(covered, settled(), m, DefaultRows()) == (approval(w1), approval(w3), approval(w4))
    # The batch's own debits count: a loss of 101 leaves account 11's free collateral at -1 (it has 100).
    loss = (Transfer(account=11, asset=0, amount=-101 * USDC), Transfer(account=16, asset=0, amount=101 * USDC))
    assert builder().exit_approvals(exits, settled(transfers=loss), m, DefaultRows()) == ()
    # A contribution taking its cash likewise; a returned contribution (< 0) adds to it.
    taken = DefaultRows(contributions=(Contribution(account=11, amount=101 * USDC),))
    assert builder().exit_approvals(exits, settled(), m, taken) == ()
    returned = DefaultRows(contributions=(Contribution(account=11, amount=-50 * USDC),))
    assert builder().exit_approvals(exits, settled(transfers=loss), m, returned) == (approval(w1), approval(w3))
    # A member this batch calls for margin, or declares, waits for a later batch.
    called = DefaultRows(margin_calls=(MarginCall(account=11, deadline=1, amount=USDC),))
    assert builder().exit_approvals(exits, settled(), m, called) == ()
    declared = DefaultRows(default_actions=(DefaultAction(account=11, action=DECLARE, amount=0),))
    assert builder().exit_approvals(exits, settled(), m, declared) == ()
    # A cure (a call row of amount 0) does not hold them.
    cured = DefaultRows(margin_calls=(MarginCall(account=11, deadline=0, amount=0),))
    assert builder().exit_approvals(exits, settled(), m, cured) == (approval(w1), approval(w3))


def test_free_collateral_is_the_vaults_formula() -> None:
    held = {(11, 0): 10 * USDC, (11, 1): 3 * WETH + 1}
    # 10 + floor((3e18 + 1) * 2000e6 * 8000 / (1e18 * 10000)) = 10 + 4,800 USDC, less debt 5 and IM 1
    assert free_collateral(11, held, MARKS, {0: 6, 1: 18}, {11: 5 * USDC}, im=USDC) == 4_804 * USDC
