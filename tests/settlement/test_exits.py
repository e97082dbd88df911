"""A member's exit request served by the engine on a real Anvil (issue 11, finding 2; docs/contracts.md
"Forced exit"): while its request is open the member may only reduce (ingest refuses growing fills with
EXITING); once flat, the next batch posts its IM 0 / MM 0 and approves its pending withdrawals within margin
and the outflow budget, so it leaves at once and `forceWindDown` answers `ExitServed`; a cancelled request
lifts reduce-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from offchain.audit import run_audit
from offchain.chain.deploy import mint
from offchain.chain.errors import RevertedError
from offchain.chain.exits import ExitWatcher
from offchain.chain.vault import vault_sender
from offchain.defaults.fund import FundPolicy
from offchain.defaults.manager import DefaultsConfig
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus, Ingestor
from offchain.ingest.validation import Reason
from offchain.ledger import schema as t
from offchain.ledger.publication import publish
from offchain.settlement.clock import ChainClock
from tests.settlement.conftest import BTC_QTY, USDC, Devnet

MM, FUND = "Alpha Market Making", "Macro Fund"
BUDGET = 60_000 * USDC  # what approvals may release of USDC per outflow period
WETH = 10**18
# So much WETH that the haircut model's concentration term charges it through IM even with no position
# (offchain/settlement/margin.py): a flat member's IM is then not 0 by the model alone.
CONCENTRATED_WETH = 10**6 * WETH


def advance(d: Devnet, seconds: int) -> None:
    d.vault.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def status(d: Devnet, name: str) -> str:
    with d.db.connect() as conn:
        account = d.member(name).account
        return str(conn.execute(select(t.members.c.status).where(t.members.c.account == account)).scalar_one())


def submit(d: Devnet, ing: Ingestor, fid: str, buyer: str, seller: str, qty: int) -> tuple[AckStatus, Reason | None]:
    ing.refresh()  # statuses as the engine left them (the snapshot is otherwise cached for a second)
    ack = ing.submit(*d.fill("otc-desk", fid, "XBT/USD", buyer, seller, qty, 20_000, ts_ms=d.now_ms()))
    return ack.status, ack.reason


def test_an_exiting_member_is_reduce_only_then_served_once_flat(devnet: Devnet, tmp_path: Path) -> None:
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    operator = vault_sender(d.vault.w3, d.spec.operator_key)
    fund = vault_sender(d.vault.w3, d.member(FUND).key)
    mint(operator, d.spec.tokens["WETH"], d.member(FUND).address, CONCENTRATED_WETH)
    d.vault.deposit(fund, d.member(FUND).address, 1, CONCENTRATED_WETH)
    d.vault.set_outflow_budget(operator, 0, BUDGET)  # in force from the next period
    advance(d, d.vault.outflow_period())
    d.prices(btc=20_000)
    # The chain was warped a period ahead: engine and ingest run on its clock (as the demo does).
    engine = settlement_engine(d.spec, d.db, clock=ChainClock(d.vault.w3))
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    account = d.member(FUND).account

    assert submit(d, ing, "o-1", FUND, MM, BTC_QTY) == (AckStatus.ACCEPTED, None)
    assert engine.step().action == "settled"
    im, _ = d.vault.contract.functions.requirementOf(account).call()
    assert im > 0  # long 1 BTC, and its WETH's concentration

    # The fund asks to leave: the engine's next step marks it exiting (no batch is needed for that).
    d.vault.request_exit(fund)
    assert engine.step().action == "idle"
    assert status(d, FUND) == "exiting"
    assert submit(d, ing, "o-2", FUND, MM, BTC_QTY // 10) == (AckStatus.REJECTED, Reason.EXITING)  # more
    assert submit(d, ing, "o-3", MM, FUND, 2 * BTC_QTY) == (AckStatus.REJECTED, Reason.EXITING)  # a flip
    # While it still holds the position its exit is not served: the IM stays.
    wid = d.vault.request_withdrawal(fund, 0, 50_000 * USDC, d.member(FUND).address)
    assert d.vault.withdrawal(wid).ready_at > d.now_ms() // 1000
    # What the engine reads each step, the history scanned a few blocks per eth_getLogs as on a long chain.
    seen = ExitWatcher(d.vault, chunk_blocks=3).state()
    assert seen.open == {account} and [w.id for w in seen.withdrawals] == [wid]
    assert seen.outflow_left == {0: BUDGET} and seen.debts == {account: 0}
    d.prices(btc=20_000)
    result = engine.step()
    assert result.action in ("idle", "settled")
    assert d.vault.contract.functions.requirementOf(account).call()[0] == im
    assert d.vault.withdrawal(wid).ready_at > d.now_ms() // 1000  # not approved
    with d.db.connect() as conn:  # the operator is told, once
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject)).all()
    assert alerts.count(("exit_unserved", str(account))) == 1

    # It sells the BTC back: the batch that settles the sale leaves it flat, posts IM 0 / MM 0 (the model
    # alone would still charge its WETH's concentration) and approves its withdrawal (within margin: nothing
    # is required of a flat member without debt).
    assert submit(d, ing, "o-4", MM, FUND, BTC_QTY) == (AckStatus.ACCEPTED, None)
    result = engine.step()
    assert result.action == "settled" and result.fills == 1
    (settled,) = [b for b in d.vault.settled_batches() if b.batch.sequence == result.sequence]
    assert settled.batch.approved_withdrawals == (d.vault.approval(wid),)
    assert d.vault.contract.functions.requirementOf(account).call() == [0, 0]
    with d.db.connect() as conn:
        payload = conn.execute(select(t.batches.c.payload).where(t.batches.c.sequence == result.sequence)).scalar_one()
    assert payload["margin_detail"][str(account)]["model_im"] > 0
    assert d.vault.withdrawal(wid).ready_at <= d.now_ms() // 1000
    with pytest.raises(RevertedError) as info:  # IM 0 in force: the exit is served
        d.vault.force_wind_down(operator, account)
    assert info.value.error == "ExitServed"
    d.vault.execute_withdrawal(fund, wid)
    assert d.vault.withdrawal(wid).status == "executed"

    # A second request beyond what the outflow budget has left this period is not proposed: it keeps its delay,
    # and the engine does not build a batch for it (a skipped approval would be proposed again every step).
    wid2 = d.vault.request_withdrawal(fund, 0, BUDGET - 50_000 * USDC + 1, d.member(FUND).address)
    assert engine.step().action == "idle"
    assert d.vault.withdrawal(wid2).ready_at > d.now_ms() // 1000
    # A flat exiting member still may not trade again (finding 2's griefing: asking to leave while flat).
    assert submit(d, ing, "o-5", FUND, MM, 1) == (AckStatus.REJECTED, Reason.EXITING)

    # Cancelling the request lifts reduce-only.
    d.vault.cancel_exit(fund)
    engine.step()
    assert status(d, FUND) == "active"
    assert submit(d, ing, "o-6", FUND, MM, BTC_QTY // 10) == (AckStatus.ACCEPTED, None)

    # The auditor re-derives every batch and accepts the served requirement (the vault's ExitRequested events).
    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    run_audit(d.anvil.url, d.spec.vault, published)


def test_a_lapsed_exit_is_followed_like_a_cancel(devnet: Devnet, tmp_path: Path) -> None:
    """Issue 11, fourth review, finding 2: an armed exit that nobody uses within WIND_DOWN_WINDOW after its grace
    lapses: the next `forceWindDown` clears the request (`ExitLapsed`) instead of winding down. The engine's
    watcher drops it as it does a cancel (the member is `active` again), and the auditor reads the event."""
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    d.prices(btc=20_000)
    engine = settlement_engine(d.spec, d.db, clock=ChainClock(d.vault.w3))
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    operator = vault_sender(d.vault.w3, d.spec.operator_key)
    fund = vault_sender(d.vault.w3, d.member(FUND).key)
    account = d.member(FUND).account
    assert submit(d, ing, "l-1", FUND, MM, BTC_QTY) == (AckStatus.ACCEPTED, None)
    assert engine.step().action == "settled"  # the fund holds a position: IM above 0

    d.vault.request_exit(fund)
    engine.step()
    assert status(d, FUND) == "exiting"
    advance(d, int(d.vault.contract.functions.escapePeriod().call()))
    d.vault.force_wind_down(operator, account)  # overdue: armed (WindDownArmed)
    advance(d, 2 * 86_400)  # the grace, then the whole window, unused
    sent = d.vault.force_wind_down(operator, account)  # does not revert: the clearing sticks
    lapsed = d.vault.contract.events.ExitLapsed().process_receipt(sent.receipt)
    assert [int(e["args"]["account"]) for e in lapsed] == [account]
    assert not d.vault.contract.functions.woundDown().call()
    assert ExitWatcher(d.vault, chunk_blocks=3).state().open == frozenset()
    engine.step()
    assert status(d, FUND) == "active"
    with pytest.raises(RevertedError) as info:  # the request is gone
        d.vault.force_wind_down(operator, account)
    assert info.value.error == "NoExitRequest"

    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    run_audit(d.anvil.url, d.spec.vault, published)


def test_a_served_exit_returns_the_members_default_fund_contribution(devnet: Devnet, tmp_path: Path) -> None:
    """Issue 11, fourth review, finding 5 (engine side): the batch that serves an exit (IM 0) also returns the
    member's whole default-fund contribution (its target is 0 once served, sizing due or not), so nothing of
    the member stays held in the pool (the vault counts a served exit with a contribution left as unserved)."""
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    d.prices(btc=20_000)
    # Default management on, contributions sized from the first batch (as tests/defaults/test_default_e2e.py).
    config = DefaultsConfig(fund=FundPolicy(every=1))
    engine = settlement_engine(d.spec, d.db, defaults=config, clock=ChainClock(d.vault.w3))
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    f, account = d.vault.contract.functions, d.member(FUND).account
    assert submit(d, ing, "c-1", FUND, MM, BTC_QTY) == (AckStatus.ACCEPTED, None)
    assert engine.step().action == "settled"
    stake = int(f.contributionOf(account).call())
    assert stake > 0  # its Cover-2 share of the fund, paid from its cash
    cash = int(f.balanceOf(account, 0).call())

    # From here no batch is a sizing one (a recompute would give a flat member target 0 anyway): the return
    # must come from the served exit itself.
    assert engine.builder.defaults is not None
    engine.builder.defaults.config = DefaultsConfig(fund=FundPolicy(every=10**9))
    fund = vault_sender(d.vault.w3, d.member(FUND).key)
    d.vault.request_exit(fund)
    assert engine.step().action == "idle"  # marked exiting; still long: not served, the stake stays
    assert int(f.contributionOf(account).call()) == stake
    assert submit(d, ing, "c-2", MM, FUND, BTC_QTY) == (AckStatus.ACCEPTED, None)
    d.prices(btc=20_000)
    result = engine.step()
    assert result.action == "settled"
    (settled,) = [b for b in d.vault.settled_batches() if b.batch.sequence == result.sequence]
    assert f.requirementOf(account).call() == [0, 0]  # served ...
    assert [(c.account, c.amount) for c in settled.batch.contributions if c.account == account] == [(account, -stake)]
    assert int(f.contributionOf(account).call()) == 0  # ... and its stake is back in its cash
    moved = sum(tr.amount for tr in settled.batch.transfers if (tr.account, tr.asset) == (account, 0))  # fees, VM
    assert int(f.balanceOf(account, 0).call()) == cash + moved + stake
    with pytest.raises(RevertedError) as info:
        d.vault.force_wind_down(vault_sender(d.vault.w3, d.spec.operator_key), account)
    assert info.value.error == "ExitServed"
    assert engine.step().action == "idle"  # nothing more to return

    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    run_audit(d.anvil.url, d.spec.vault, published)
