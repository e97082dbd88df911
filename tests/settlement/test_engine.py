"""The settlement engine end to end on a real Anvil: fills from three venues netted into one batch."""

from __future__ import annotations

from sqlalchemy import select

from offchain.core.accounting import clearing_fee
from offchain.core.batch import FEE_ACCOUNT
from offchain.core.merkle import root_of
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from tests.settlement.conftest import BTC_QTY, USDC, Devnet

MM, FUND, RETAIL, DAO = "Alpha Market Making", "Macro Fund", "DEX retail pool", "Protocol DAO"


def setup_book(d: Devnet) -> None:
    for name, usd in ((MM, 500_000), (FUND, 200_000), (RETAIL, 100_000), (DAO, 50_000)):
        d.deposit(name, usd)
    d.prices(btc=20_000)


def test_cross_venue_fills_net_into_one_batch(devnet: Devnet) -> None:
    d = devnet
    setup_book(d)
    ing = ingestor(d.spec, d.db)
    # The fund buys 2 BTC on the DEX from the market maker and sells 2 on the CEX to the retail pool:
    # flat overall, so its margin is zero although it traded on two venues. The market maker also
    # buys 1 on the OTC desk from the retail pool and sells it back there: three venues, same members.
    acks = ing.submit_many(
        [
            d.fill("dex-perp", "d-1", "BTC-PERP", FUND, MM, 2 * BTC_QTY, 20_000),
            d.fill("cex", "c-1", "BTCUSDT", RETAIL, FUND, 2 * BTC_QTY, 20_100),
            d.fill("otc-desk", "o-1", "XBT/USD", MM, RETAIL, BTC_QTY, 20_000),
            d.fill("otc-desk", "o-2", "XBT/USD", RETAIL, MM, BTC_QTY, 20_000),
        ]
    )
    assert [a.status for a in acks] == [AckStatus.ACCEPTED] * 4
    engine = settlement_engine(d.spec, d.db)
    accounts = {m.name: m.account for m in d.spec.members}
    before = {n: d.vault.balance(a, 0) for n, a in accounts.items()}
    fee_before = d.vault.balance(FEE_ACCOUNT, 0)

    result = engine.step()
    assert result.action == "settled" and result.fills == 4

    with d.db.connect() as conn:
        payload = conn.execute(select(t.batches.c.payload).where(t.batches.c.sequence == result.sequence)).scalar_one()
        positions = {
            (m, v): q for m, v, q in conn.execute(select(t.positions.c.member, t.positions.c.venue, t.positions.c.qty))
        }
        leaves = [bytes(x) for x in conn.execute(select(t.fills.c.leaf).order_by(t.fills.c.id)).scalars()]
    # Positions per venue are kept, and the fund's net across venues is zero.
    assert positions[(accounts[FUND], "dex-perp")] == 2 * BTC_QTY
    assert positions[(accounts[FUND], "cex")] == -2 * BTC_QTY
    # Cash: every fill settles against the 20,000 mark; fees are 1 bp of notional, each side.
    fee_dex = clearing_fee(2 * BTC_QTY, 20_000 * USDC, 1, 8)
    fee_cex = clearing_fee(2 * BTC_QTY, 20_100 * USDC, 1, 8)
    fee_otc = clearing_fee(BTC_QTY, 20_000 * USDC, 1, 8)
    delta = {n: d.vault.balance(a, 0) - before[n] for n, a in accounts.items()}
    assert delta[FUND] == 2 * 100 * USDC - fee_dex - fee_cex
    assert delta[MM] == -fee_dex - 2 * fee_otc
    assert delta[RETAIL] == -2 * 100 * USDC - fee_cex - 2 * fee_otc
    assert delta[DAO] == 0
    assert d.vault.balance(FEE_ACCOUNT, 0) - fee_before == 2 * fee_dex + 2 * fee_cex + 4 * fee_otc
    # On-chain commitments: fills root, requirements equal the ledger's, the fund's IM is zero.
    (settled,) = [b for b in d.vault.settled_batches() if b.batch.sequence == result.sequence]
    assert settled.batch.fills_root == root_of(leaves)
    # Four fills on three venues: one netted transfer per member and asset (plus the fee account).
    keys = [(tr.account, tr.asset) for tr in settled.batch.transfers]
    assert len(keys) == len(set(keys)) == 4  # the fund, the market maker, the retail pool, the fee account
    for a in accounts.values():
        im, mm = d.vault.contract.functions.requirementOf(a).call()
        assert [str(im), str(mm)] == payload["requirements"][str(a)]
    assert d.vault.contract.functions.requirementOf(accounts[FUND]).call() == [0, 0]
    assert d.vault.contract.functions.requirementOf(accounts[MM]).call()[0] > 0

    # BTC falls to 19,000: the short market maker gains 2,000 and the long retail pool pays it.
    d.prices(btc=19_000)
    before = {n: d.vault.balance(a, 0) for n, a in accounts.items()}
    assert engine.step().action == "settled"
    delta = {n: d.vault.balance(a, 0) - before[n] for n, a in accounts.items()}
    assert delta == {MM: 2_000 * USDC, FUND: 0, RETAIL: -2_000 * USDC, DAO: 0}
    assert engine.step().action == "idle"  # nothing new: no batch


def test_stale_mark_halts_the_instrument_until_a_fresh_one(devnet: Devnet) -> None:
    d = devnet
    setup_book(d)
    ack = ingestor(d.spec, d.db).submit(*d.fill("otc-desk", "o-1", "XBT/USD", FUND, MM, BTC_QTY, 20_000))
    assert ack.status == AckStatus.ACCEPTED
    # The BTC feed goes stale: its last mark is ten minutes old.
    stale = d.now_ms() - 10 * 60_000
    with d.db.begin() as conn:
        conn.execute(t.marks.delete().where(t.marks.c.instrument.in_(["BTC-USD-PERP", "BTC"])))
    for symbol in ("BTC-USD-PERP", "BTC"):
        d.price(symbol, 20_000, ts_ms=stale)
    engine = settlement_engine(d.spec, d.db)
    result = engine.step()
    assert result.fills == 0
    with d.db.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject)).all()
        pending = conn.execute(select(t.fills.c.batch_sequence)).scalars().all()
    assert ("mark_stale", "BTC-USD-PERP") in alerts
    assert pending == [None]
    d.prices(btc=20_000)
    assert engine.step().fills == 1


def test_missing_collateral_price_means_no_batch_and_one_alert(devnet: Devnet) -> None:
    d = devnet
    for name, usd in ((MM, 500_000), (FUND, 200_000)):
        d.deposit(name, usd)
    for symbol in ("BTC-USD-PERP", "ETH-USD-PERP", "BTC"):  # no ETH index price: WETH cannot be valued
        d.price(symbol, 20_000 if symbol.startswith("BTC") else 1_500)
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", "d-1", "BTC-PERP", FUND, MM, BTC_QTY, 20_000))
    assert ack.status == AckStatus.ACCEPTED
    engine = settlement_engine(d.spec, d.db)
    sequence = d.vault.last_sequence()
    assert [engine.step().action for _ in range(3)] == ["idle"] * 3
    assert d.vault.last_sequence() == sequence
    with d.db.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject)).all()
    assert alerts.count(("collateral_price_missing", "WETH")) == 1
    d.price("ETH", 1_500)
    assert engine.step().fills == 1
