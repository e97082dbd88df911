"""Marks and collateral prices come from the index of three sources: one source printing 0.1 % of the
price for as long as it likes moves no mark, no collateral value and no margin call; two sources that
disagree halt the instrument and the collateral valuation (last good value kept) with an alert."""

from __future__ import annotations

from sqlalchemy import select

from offchain.chain.deploy import mint
from offchain.chain.vault import vault_sender
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.prices import record_price
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.engine import SettlementEngine
from tests.settlement.conftest import BTC_QTY, USDC, Devnet

MM, FUND = "Alpha Market Making", "Macro Fund"
SOURCES = ("venue-spot", "venue-perp", "venue-mark")
SYMBOLS = {"BTC-USD-PERP": 20_000, "BTC": 20_000, "ETH-USD-PERP": 1_500, "ETH": 1_500}
WETH = 1


def feed(d: Devnet, prices: dict[str, dict[str, float]]) -> None:
    """Record `prices[source][symbol]` now, one observation per source and symbol."""
    now = d.now_ms()
    with d.db.begin() as conn:
        for source, by_symbol in prices.items():
            for symbol, usd in by_symbol.items():
                record_price(conn, symbol, round(usd * USDC), now, source)


def honest(*sources: str) -> dict[str, dict[str, float]]:
    return {s: dict(SYMBOLS) for s in sources}


def setup(d: Devnet) -> SettlementEngine:
    d.deposit(MM, 500_000)
    d.deposit(FUND, 5_000)  # cash for fees and variation margin; the margin itself is covered by WETH
    fund = d.member(FUND)
    operator = vault_sender(d.vault.w3, d.spec.operator_key)
    mint(operator, d.spec.tokens["WETH"], fund.address, 40 * 10**18)  # $60,000 of WETH
    d.vault.deposit(vault_sender(d.vault.w3, fund.key), fund.address, WETH, 40 * 10**18)
    feed(d, honest(*SOURCES))
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", "d-1", "BTC-PERP", FUND, MM, BTC_QTY, 20_000))
    assert ack.status == AckStatus.ACCEPTED
    engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0))
    assert engine.step().fills == 1
    return engine


def state(d: Devnet) -> tuple[dict[str, int], int, int, dict[int, int]]:
    with d.db.connect() as conn:
        marks = dict(conn.execute(select(t.settled_marks.c.instrument, t.settled_marks.c.price)).all())
        weth = conn.execute(
            select(t.posted_collateral_marks.c.price).where(t.posted_collateral_marks.c.asset == WETH)
        ).scalar_one()
        calls = conn.execute(select(t.margin_calls.c.id)).all()
        ims = dict(conn.execute(select(t.posted_requirements.c.member, t.posted_requirements.c.im)).all())
    return marks, weth, len(calls), ims


def test_one_source_at_a_thousandth_of_the_price_moves_nothing(devnet: Devnet) -> None:
    d = devnet
    engine = setup(d)
    before = state(d)
    assert before[0] == {"BTC-USD-PERP": 20_000 * USDC} and before[1] == 1_500 * USDC and before[2] == 0
    bad = {s: p * 0.001 for s, p in SYMBOLS.items()}
    for _ in range(8):  # far more than the jump guard's three confirmations
        feed(d, {**honest("venue-spot", "venue-perp"), "venue-mark": bad})
        assert engine.step().action == "settled"
    assert state(d) == before
    with d.db.connect() as conn:
        payload = conn.execute(select(t.batches.c.payload).order_by(t.batches.c.sequence.desc())).first()
        alerts = conn.execute(select(t.alerts.c.kind)).scalars().all()
    assert payload is not None
    evidence = payload[0]["price_evidence"]
    assert [o["source"] for o in evidence["ETH"]["rejected"]] == ["venue-mark"]
    assert [o["source"] for o in evidence["ETH"]["used"]] == ["venue-perp", "venue-spot"]
    assert alerts == []


def test_two_sources_disagreeing_halt_marks_and_collateral_with_alerts(devnet: Devnet) -> None:
    d = devnet
    engine = setup(d)
    before = state(d)
    # The third source stops; the two left disagree by a third: no quorum of agreeing sources.
    split: dict[str, dict[str, float]] = {
        "venue-spot": dict(SYMBOLS),
        "venue-perp": {s: p * 0.66 for s, p in SYMBOLS.items()},
    }
    ages = 3 * 60_000
    with d.db.begin() as conn:  # its last prints are older than every staleness limit
        conn.execute(t.marks.delete().where(t.marks.c.source == "venue-mark"))
        for symbol, usd in SYMBOLS.items():
            record_price(conn, symbol, round(usd * USDC), d.now_ms() - ages, "venue-mark")
    ack = ingestor(d.spec, d.db).submit(*d.fill("cex", "c-1", "BTCUSDT", MM, FUND, BTC_QTY, 20_000))
    assert ack.status == AckStatus.ACCEPTED, ack
    for _ in range(3):
        feed(d, split)
        result = engine.step()
        assert result.fills == 0  # the halted instrument's fill waits
    marks, weth, calls, _ = state(d)
    assert (marks, weth, calls) == before[:3]  # last good values kept, no margin call
    with d.db.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject)).all()
        pending = conn.execute(select(t.fills.c.batch_sequence).where(t.fills.c.venue_fill_id == "c-1")).scalar_one()
    assert ("mark_disagreement", "BTC-USD-PERP") in alerts
    assert ("collateral_disagreement", "WETH") in alerts
    assert alerts.count(("collateral_disagreement", "WETH")) == 1  # one alert per outage
    assert pending is None
    # The sources agree again: the fill settles.
    feed(d, honest(*SOURCES))
    assert engine.step().fills == 1
