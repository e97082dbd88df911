"""A full default on a real Anvil, from margin call to waterfall, with the vault enforcing it.

A thinly capitalised member is long BTC; the price drops; the engine issues a margin call (on-chain in
`marginCallOf`); the member does not cure; at the deadline the engine DECLAREs the default; the auction
house closes the position in four tranches among members' EIP-712 signed bids (the unbid rest to the
house); the auction-venue fills settle through ingest and the normal batches; once the defaulter is flat
the batch COVERs its debt, the vault draws the waterfall itself (its WaterfallDraw events equal the engine's
plan) and the default CLOSEs. No ADL, no outside money, ledger and chain reconciled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import Connection, select
from web3.types import RPCEndpoint

from offchain.audit import run_audit
from offchain.chain.anvil import Anvil
from offchain.chain.deploy import mint
from offchain.chain.vault import vault_sender
from offchain.core.batch import ASSESS, CLOSE, COVER, DECLARE, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET
from offchain.core.bid import Bid, auctions_domain
from offchain.core.waterfall import Layer, WaterfallPlan
from offchain.defaults.auction import AUCTION_VENUE, AuctionParams
from offchain.defaults.calls import CallPolicy
from offchain.defaults.fund import FundPolicy
from offchain.defaults.house import AuctionHouse
from offchain.defaults.manager import BatchState, DefaultManager, DefaultRows, DefaultsConfig, FundView
from offchain.devnet.bootstrap import bring_up
from offchain.devnet.reconcile import reconcile
from offchain.devnet.runtime import auction_house, connect, ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.ledger.prices import load_settled_marks
from offchain.ledger.publication import publish
from offchain.settlement.clock import ChainClock
from offchain.settlement.engine import SettlementEngine
from tests.settlement.conftest import BTC_QTY, USDC, Devnet

pytestmark = pytest.mark.anvil

MM, FUND, RETAIL, THIN = "Alpha Market Making", "Macro Fund", "DEX retail pool", "Thin Capital"
MEMBERS = [
    (MM, "market_maker", "tier1", "professional"),
    (FUND, "hedge_fund", "tier2", "buy_side"),
    (RETAIL, "retail_pool", "tier2", "retail"),
    (THIN, "hedge_fund", "tier2", "buy_side"),
]
DROP2 = 8_000
INTERVAL = 3  # seconds between tranches (5 minutes in production)
CONFIG = DefaultsConfig(
    calls=CallPolicy(cure_s=8, deep_cure_s=4),
    auction=AuctionParams(tranche_bps=2_500, interval_s=INTERVAL, band_bps=300),
    fund=FundPolicy(every=1),  # contributions sized from the first batch on, so the fund has layers to draw
)


class RecordingManager(DefaultManager):
    """The engine's default manager, keeping each batch's waterfall plans for the test to compare."""

    def __init__(self, config: DefaultsConfig) -> None:
        super().__init__(config)
        self.plans: list[WaterfallPlan] = []

    def rows(self, conn: Connection, s: BatchState, fund: FundView) -> DefaultRows:
        out = super().rows(conn, s, fund)
        self.plans.extend(out.waterfalls.values())
        return out


@dataclass
class World:
    d: Devnet
    engine: SettlementEngine
    manager: RecordingManager
    house: AuctionHouse
    acks: list[int] = field(default_factory=list)
    eth: float = 1_500.0  # the WETH (collateral) price the next prices post
    eth_step: float = 0.0  # how far it moves before each settled batch (finding 8's e2e moves it)

    @property
    def f(self) -> Any:
        return self.d.vault.contract.functions

    def account(self, name: str) -> int:
        return self.d.member(name).account

    def warp(self, seconds: int) -> None:
        w3 = self.d.vault.w3
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def settle(self, btc: float) -> None:
        """Fresh marks at chain time (ETH moved by `eth_step`), then one engine step that settles a batch."""
        self.eth += self.eth_step
        self.d.prices(btc=btc, eth=self.eth)
        result = self.engine.step()
        assert result.action == "settled", result

    def confirm_mark(self, btc: float) -> None:
        """Settle until the engine has settled BTC-USD-PERP at `btc`: a move beyond the instrument's band takes
        the guard's `confirmations` consecutive readings, and the auction house opens and clears tranches
        only at a mark the engine settles at (offchain/ledger/prices.py `guarded_mark`)."""
        for _ in range(self.engine.builder.guard.confirmations):
            if self.settled_mark() == round(btc * USDC):
                return
            self.settle(btc)
        assert self.settled_mark() == round(btc * USDC)

    def settled_mark(self) -> int | None:
        with self.d.db.connect() as conn:
            mark = load_settled_marks(conn).get("BTC-USD-PERP")
        return None if mark is None else mark.price

    def bid(self, name: str, tranche: int, price: float, qty: int) -> None:
        m = self.d.member(name)
        bid = Bid(
            auction=self.default_id(),
            tranche=tranche,
            instrument="BTC-USD-PERP",
            buy=True,
            qty=qty,
            price=round(price * USDC),
            bidder=m.address,
            expiry=self.d.now_ms() // 1000 + 600,
        )
        domain = auctions_domain(self.d.spec.chain_id, self.d.spec.vault)
        sig = bytes(Account.unsafe_sign_hash(bid.digest(domain), m.key).signature)
        ack = self.house.submit_bid(bid, sig)
        assert ack.accepted, ack

    def default_id(self) -> int:
        with self.d.db.connect() as conn:
            return int(conn.execute(select(t.defaults.c.id).order_by(t.defaults.c.id.desc())).scalars().first() or 0)

    def draws(self, source: str) -> list[tuple[int, int, int, int, int]]:
        w = t.waterfall_draws
        with self.d.db.connect() as conn:
            return [
                (r.layer, r.account, r.asset, r.amount, r.value)
                for r in conn.execute(select(w).where(w.c.source == source).order_by(w.c.id))
            ]


def _devnet(operator_capital_usdc: int) -> Iterator[Devnet]:
    with Anvil() as anvil:
        url = f"sqlite:///{anvil_tmp()}/ledger.db"
        db = open_ledger(url)
        spec = bring_up(anvil.web3(), anvil.url, db, MEMBERS, "2022-11-01", operator_capital_usdc=operator_capital_usdc)
        yield Devnet(anvil, spec, db, url, connect(spec))
        db.dispose()


def anvil_tmp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="crossclear-e2e-")


def world(d: Devnet) -> World:
    # Cure periods pass by warping the chain: this world's time is the chain's, for the engine too.
    engine = settlement_engine(d.spec, d.db, defaults=CONFIG, clock=ChainClock(d.vault.w3))
    manager = RecordingManager(CONFIG)
    engine.builder.defaults = manager
    # Ingest and the auction's fills run on the chain's clock too: observations are stamped in chain time, and
    # the index ignores one from its reader's future (a wall-clock ingest behind a warped chain sees stale marks).
    house = auction_house(d.spec, d.db, CONFIG.auction, ingestor(d.spec, d.db, d.now_ms), fill_clock_ms=d.now_ms)
    return World(d, engine, manager, house)


def deposit_weth(d: Devnet, name: str, weth: float) -> None:
    m = d.member(name)
    operator = vault_sender(d.vault.w3, d.spec.operator_key)
    amount = round(weth * 10**18)
    mint(operator, d.spec.tokens["WETH"], m.address, amount)
    d.vault.deposit(vault_sender(d.vault.w3, m.key), m.address, d.spec.assets["WETH"], amount)


def open_book(w: World, thin_usdc: int, thin_btc: int) -> None:
    d = w.d
    for name, usd in ((MM, 500_000), (FUND, 300_000), (RETAIL, 100_000), (THIN, thin_usdc)):
        d.deposit(name, usd)
    deposit_weth(d, THIN, 0.5)
    d.prices(btc=20_000)
    acks = ingestor(d.spec, d.db, d.now_ms).submit_many(
        [
            d.fill("dex-perp", "d-1", "BTC-PERP", THIN, MM, thin_btc * BTC_QTY, 20_000),
            d.fill("cex", "c-1", "BTCUSDT", RETAIL, FUND, BTC_QTY, 20_000),
        ]
    )
    assert [a.status for a in acks] == [AckStatus.ACCEPTED] * 2
    w.settle(20_000)


def run_default(w: World, drop_to: float, bids: Mapping[int, Sequence[tuple[str, float, int]]]) -> None:
    """Price drop → call → no cure → DECLARE → four auctioned tranches → COVER (+ASSESS) → CLOSE."""
    d, f, thin = w.d, w.f, w.account(THIN)
    assert f.marginCallOf(thin).call() == [0, 0]  # well margined at first

    w.warp(1)
    w.settle(drop_to)
    amount, deadline = f.marginCallOf(thin).call()
    assert amount > 0 and deadline > d.now_ms() // 1000  # the call is on-chain, with its deadline
    with d.db.connect() as conn:
        status = conn.execute(select(t.members.c.status).where(t.members.c.account == thin)).scalar_one()
        verdicts = conn.execute(select(t.margin_calls.c.verdict).where(t.margin_calls.c.account == thin)).scalars()
        assert status == "close_only" and list(verdicts) == ["issue"]

    # No cure: the first batch at or after the deadline declares the default.
    w.warp(deadline - d.now_ms() // 1000 + 1)
    w.settle(drop_to)
    assert f.inDefault(thin).call() and f.openDefaults().call() == 1
    batch = d.vault.settled_batches()[-1].batch
    assert [(a.account, a.action) for a in batch.default_actions] == [(thin, DECLARE)]

    # The auction: four tranches of 25%, each cleared after INTERVAL seconds (the next opens as one clears);
    # the auction venue's fills settle in the normal batches. It opens once the engine has settled the crash.
    w.confirm_mark(drop_to)
    (opened,) = w.house.step().opened
    for k in range(4):
        assert (opened.index, opened.qty, opened.defaulter_sells) == (k, position_at_declare(w) // 4, True)
        for name, price, qty in bids.get(k, []):
            w.bid(name, k, price, qty)
        w.warp(INTERVAL)
        d.prices(btc=drop_to, eth=w.eth)
        report = w.house.step()
        assert [r.tranche.index for r in report.cleared] == [k]
        assert [(x.tranche.index, x.accepted) for x in report.delivered] == [(k, x.fills) for x in report.delivered]
        w.settle(drop_to)
        if k < 3:
            (opened,) = report.opened
        else:
            assert report.opened == []
    assert w.house.step().opened == []

    # The batch that made the defaulter flat covered its debt through the waterfall and closed the default.
    assert not f.inDefault(thin).call() and f.openDefaults().call() == 0
    assert f.debtOf(thin).call() == 0
    actions = [a for b in d.vault.settled_batches() for a in b.batch.default_actions if a.action != DECLARE]
    assert actions[0].action == COVER and actions[-1].action == CLOSE
    assert all(a.action == ASSESS for a in actions[1:-1])


def position_at_declare(w: World) -> int:
    with w.d.db.connect() as conn:
        positions = conn.execute(select(t.defaults.c.positions)).scalar_one()
    return int(positions["BTC-USD-PERP"])


def check_waterfall(w: World) -> WaterfallPlan:
    """The vault's draws are the plan's; nothing beyond L5; no outside money; ledger and chain agree."""
    (plan,) = w.manager.plans
    planned = [(int(x.layer), x.account, x.asset, x.amount, x.value) for x in (*plan.draws, *plan.assessments)]
    events = [
        (int(a["layer"]), int(a["account"]), int(a["asset"]), int(a["amount"]), int(a["value"]))
        for a in (e["args"] for e in w.d.vault.contract.events.WaterfallDraw().get_logs(from_block=0))
    ]
    assert events == planned
    assert w.draws("chain") == planned == w.draws("plan")
    assert sum(x[4] for x in planned) == plan.loss  # the loss is covered exactly
    assert plan.vm_haircuts == () and sum(1 for a in plan.adl if a.amount) == 0  # ADL count 0
    assert plan.uncovered == 0 and plan.external == 0  # no outside money
    with w.d.db.connect() as conn:
        status, covered = conn.execute(select(t.defaults.c.status, t.defaults.c.covered)).one()
    assert (status, covered) == ("closed", plan.loss)
    assert reconcile(w.d.vault, w.d.db, w.acks) == []
    return plan


@pytest.fixture
def capitalised() -> Iterator[Devnet]:
    yield from _devnet(operator_capital_usdc=500_000)


@pytest.fixture
def thin_capital() -> Iterator[Devnet]:
    yield from _devnet(operator_capital_usdc=1)


@pytest.mark.timeout(300)
def test_margin_call_default_auction_waterfall_close(capitalised: Devnet) -> None:
    w = world(capitalised)
    open_book(w, thin_usdc=8_000, thin_btc=2)
    bids = {
        0: [(MM, 14_900, BTC_QTY // 5), (FUND, 14_950, BTC_QTY // 5)],  # 0.4 of 0.5 bid: 0.1 to the house
        1: [(FUND, 14_980, BTC_QTY)],  # more than the tranche: FUND takes all of it
        3: [(MM, 14_990, BTC_QTY // 2)],
    }  # tranche 2: no bids, all to the house
    run_default(w, 15_000, bids)
    with w.d.db.connect() as conn:
        fills = conn.execute(
            select(t.fills.c.venue_fill_id, t.fills.c.buyer, t.fills.c.qty)
            .where(t.fills.c.venue == AUCTION_VENUE)
            .order_by(t.fills.c.id)
        ).all()
    house = w.d.spec.house_account
    assert [(fid, buyer) for fid, buyer, _ in fills] == [
        ("a1-t0-0", w.account(FUND)),
        ("a1-t0-1", w.account(MM)),
        ("a1-t0-2", house),
        ("a1-t1-0", w.account(FUND)),
        ("a1-t2-0", house),
        ("a1-t3-0", w.account(MM)),
    ]
    plan = check_waterfall(w)
    layers = {int(x.layer) for x in plan.draws}
    assert Layer.COLLATERAL in layers and Layer.OPERATOR_CAPITAL in layers  # the WETH, then operator capital
    assert w.f.balanceOf(OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET).call() < 500_000 * USDC


@pytest.mark.timeout(300)
def test_a_loss_beyond_operator_capital_draws_the_survivors_fund_and_assessments(thin_capital: Devnet) -> None:
    w = world(thin_capital)
    open_book(w, thin_usdc=12_000, thin_btc=3)
    survivors = [w.account(n) for n in (MM, FUND, RETAIL)]
    run_default(w, DROP2, {})  # nobody bids: the house takes every tranche at the penalty
    with w.d.db.connect() as conn:
        buyers = set(conn.execute(select(t.fills.c.buyer).where(t.fills.c.venue == AUCTION_VENUE)).scalars())
        pool_value, pool_shares = conn.execute(select(t.defaults.c.pool_value, t.defaults.c.pool_shares)).one()
    assert buyers == {w.d.spec.house_account}
    plan = check_waterfall(w)
    assert [int(x.layer) for x in plan.draws] == [1, 2, 3, 4]  # every layer before assessments exhausted
    assert w.f.defaultFundPool().call()[0] == 0 and w.f.balanceOf(OPERATOR_CAPITAL_ACCOUNT, 0).call() == 0
    assessed = {x.account: x.amount for x in plan.assessments}
    assert set(assessed) == set(survivors) and all(v > 0 for v in assessed.values())
    # The pool was drawn whole, so each survivor's L4 share is its contribution as it stood at DECLARE:
    # each assessment is within 2x of it (the vault's cap) and they are pro rata to it.
    lost = {x.account: x.value for x in plan.l4_shares}
    for a, amount in assessed.items():
        assert amount <= 2 * lost[a]
        assert abs(amount * sum(lost.values()) - sum(assessed.values()) * lost[a]) <= sum(lost.values())
    assert pool_shares > 0 and pool_value > 0


@pytest.mark.timeout(300)
def test_the_defaulters_collateral_price_moves_through_the_default(capitalised: Devnet, tmp_path: Path) -> None:
    """Issue 11, fourth review, finding 8: THIN's WETH price moves in every batch, between the DECLARE and the
    COVER and in the COVER's batch itself. The vault values layer 1 at the marks in force when the batch
    begins (it posts the batch's marks after its default rows) and the engine plans it at those marks
    (`BatchState.collateral_in_force`), so the COVER batch the engine proposes lands: the default is covered
    and closed there, the vault's draws equal the plan, and the auditor accepts the history."""
    w = world(capitalised)
    w.eth_step = -3.0  # 0.2 % a batch: within the collateral guard's jump band, a new mark every batch
    open_book(w, thin_usdc=8_000, thin_btc=2)
    bids = {0: [(MM, 14_900, BTC_QTY // 5)], 1: [(FUND, 14_980, BTC_QTY)], 3: [(MM, 14_990, BTC_QTY // 2)]}
    run_default(w, 15_000, bids)
    weth = w.d.spec.assets["WETH"]
    settled = [b.batch for b in w.d.vault.settled_batches()]

    def weth_mark(upto: int) -> tuple[int, int]:
        """WETH's (price, haircut) in force after batch index `upto` (the last mark row at or before it)."""
        return next((m.price, m.haircut_bps) for b in reversed(settled[: upto + 1]) for m in b.marks if m.asset == weth)

    declare = next(i for i, b in enumerate(settled) if any(a.action == DECLARE for a in b.default_actions))
    cover = next(i for i, b in enumerate(settled) if any(a.action == COVER for a in b.default_actions))
    assert any(a.action == CLOSE for a in settled[cover].default_actions)  # covered and closed in one batch
    assert weth_mark(cover - 1)[0] != weth_mark(declare)[0]  # moved between the DECLARE and the COVER
    assert any(m.asset == weth for m in settled[cover].marks)  # and moved again in the COVER's batch
    assert weth_mark(cover)[0] != weth_mark(cover - 1)[0]
    plan = check_waterfall(w)
    (l1,) = [x for x in plan.draws if x.layer == Layer.COLLATERAL and x.asset == weth]

    def value(mark: tuple[int, int]) -> int:  # the vault's layer-1 value of the seized WETH (floor)
        return l1.amount * mark[0] * (10_000 - mark[1]) // (10**18 * 10_000)

    # Layer 1 at the mark in force when the COVER's batch began, not at the batch's own.
    assert l1.value == value(weth_mark(cover - 1)) != value(weth_mark(cover))
    with w.d.db.begin() as conn:
        assert conn.execute(select(t.alerts.c.kind).where(t.alerts.c.kind == "batch_refused")).first() is None
    published = tmp_path / "fills.jsonl"
    publish(w.d.db, published)
    run_audit(w.d.anvil.url, w.d.spec.vault, published)
