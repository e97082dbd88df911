"""An exiting member that keeps its positions is closed out by the engine on a real Anvil (issue 11, finding 2;
offchain/defaults/closeout.py): once its request has been open for the close-out delay, its book is auctioned
(no DECLARE, no waterfall); a tranche nobody bids is offered again (`exit_closeout_stalled`); another member's
signed bid takes it, the fill settles against the exiting member's own collateral, the batch that leaves it
flat posts IM 0 / MM 0 and approves its withdrawal, `forceWindDown` answers `ExitServed`, and the auditor
accepts the whole history."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select

from offchain.audit import run_audit
from offchain.chain.errors import RevertedError
from offchain.chain.vault import vault_sender
from offchain.core.bid import Bid, auctions_domain
from offchain.defaults.auction import AUCTION_VENUE, AuctionParams
from offchain.defaults.closeout import CloseoutTimingError, auction_time_s
from offchain.devnet.runtime import auction_house, ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.publication import publish
from offchain.settlement.clock import ChainClock
from tests.settlement.conftest import BTC_QTY, USDC, Devnet
from tests.settlement.test_exits import advance, submit

MM, FUND = "Alpha Market Making", "Macro Fund"
BUDGET = 60_000 * USDC
DELAY = 60  # exit_closeout_after_s (E / 4 = 42 hours on this devnet's 7-day E)
PARAMS = AuctionParams(tranche_bps=10_000, interval_s=5, band_bps=300)  # one tranche of the whole position
MARK = 20_000


def alerts(d: Devnet, kind: str) -> list[str]:
    with d.db.connect() as conn:
        return list(conn.execute(select(t.alerts.c.subject).where(t.alerts.c.kind == kind)).scalars())


def test_an_exiting_member_keeping_its_position_is_closed_out_by_auction_and_served(
    devnet: Devnet, tmp_path: Path
) -> None:
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    operator = vault_sender(d.vault.w3, d.spec.operator_key)
    fund = vault_sender(d.vault.w3, d.member(FUND).key)
    d.vault.set_outflow_budget(operator, 0, BUDGET)
    advance(d, d.vault.outflow_period())
    d.prices(btc=MARK)
    # A delay leaving the auction no time before the vault's E (7 days; loosening delay 0 here) is refused.
    too_late = 7 * 24 * 3600 - auction_time_s(AuctionParams())
    with pytest.raises(CloseoutTimingError, match="exit_closeout_after_s"):
        settlement_engine(d.spec, d.db, exit_closeout_after_s=too_late)
    engine = settlement_engine(d.spec, d.db, clock=ChainClock(d.vault.w3), exit_closeout_after_s=DELAY)
    assert engine.closeout_delay() == DELAY
    assert settlement_engine(d.spec, d.db).closeout_delay() == 7 * 24 * 3600 // 4  # unset: E / 4
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    house = auction_house(d.spec, d.db, PARAMS, ing, fill_clock_ms=d.now_ms)
    account = d.member(FUND).account

    assert submit(d, ing, "o-1", FUND, MM, BTC_QTY) == (AckStatus.ACCEPTED, None)
    assert engine.step().action == "settled"

    # It asks to leave, asks for its cash, and keeps the BTC: not due yet, nothing is auctioned.
    d.vault.request_exit(fund)
    wid = d.vault.request_withdrawal(fund, 0, 50_000 * USDC, d.member(FUND).address)
    engine.step()
    assert alerts(d, "exit_closeout_started") == []
    assert house.step().opened == []

    # The delay passes: the engine's next step starts the close-out of its book (1 BTC long).
    advance(d, DELAY)
    d.prices(btc=MARK)
    engine.step()
    assert alerts(d, "exit_closeout_started") == [str(account)]
    with d.db.connect() as conn:
        (cid, kind, status, positions) = conn.execute(
            select(t.defaults.c.id, t.defaults.c.kind, t.defaults.c.status, t.defaults.c.positions)
        ).one()
    assert (kind, status, positions) == ("exit_closeout", "closing", {"BTC-USD-PERP": str(BTC_QTY)})

    # Tranche 0 opens; nobody bids: it clears with no trade (the house takes nothing from a member not in
    # default), the operator is told, and the whole position is offered again.
    (first,) = house.step().opened
    assert (first.auction, first.qty, first.defaulter_sells) == (cid, BTC_QTY, True)
    advance(d, PARAMS.interval_s)
    d.prices(btc=MARK)
    report = house.step()
    assert [(r.bid_qty, r.residual_qty) for r in report.cleared] == [(0, 0)]
    assert alerts(d, "exit_closeout_stalled") == [str(account)]
    (again,) = report.opened
    assert (again.index, again.qty) == (1, BTC_QTY)

    # The market maker bids for it (EIP-712 signed); at the deadline it wins and the fill goes through ingest.
    m = d.member(MM)
    bid = Bid(
        auction=cid,
        tranche=1,
        instrument="BTC-USD-PERP",
        buy=True,
        qty=BTC_QTY,
        price=(MARK - 10) * USDC,
        bidder=m.address,
        expiry=d.now_ms() // 1000 + 600,
    )
    domain = auctions_domain(d.spec.chain_id, d.spec.vault)
    assert house.submit_bid(bid, bytes(Account.unsafe_sign_hash(bid.digest(domain), m.key).signature)).accepted
    advance(d, PARAMS.interval_s)
    d.prices(btc=MARK)
    report = house.step()
    ((delivery,),) = [report.delivered]
    assert (delivery.accepted, delivery.refused) == (1, ())
    assert report.opened == []  # nothing left to offer
    with d.db.connect() as conn:
        fills = conn.execute(select(t.fills.c.venue_fill_id).where(t.fills.c.venue == AUCTION_VENUE)).scalars().all()
    assert fills == [f"a{cid}-t1-0"]

    # The batch settling it leaves the member flat: IM 0 / MM 0, its withdrawal approved; the close-out ends.
    d.prices(btc=MARK)
    result = engine.step()
    assert result.action == "settled" and result.fills == 1
    assert d.vault.contract.functions.requirementOf(account).call() == [0, 0]
    assert d.vault.withdrawal(wid).ready_at <= d.now_ms() // 1000
    with d.db.connect() as conn:
        assert conn.execute(select(t.defaults.c.status)).scalar_one() == "flat"
        assert conn.execute(select(t.defaults.c.id).where(t.defaults.c.kind == "default")).first() is None
    with pytest.raises(RevertedError) as info:
        d.vault.force_wind_down(operator, account)
    assert info.value.error == "ExitServed"
    assert all(not b.batch.default_actions for b in d.vault.settled_batches())  # no DECLARE, no waterfall
    d.vault.execute_withdrawal(fund, wid)
    assert d.vault.withdrawal(wid).status == "executed"

    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    run_audit(d.anvil.url, d.spec.vault, published)
