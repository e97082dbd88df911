"""A devnet running a simulated week on three replayed sources per symbol margins on a model recalibrated
from the ledger (its version changes in the batches); a stale calibration refuses to margin, with an alert."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.price_feed_store import LedgerPriceSink
from offchain.marketdata.feeder import Feeder
from offchain.marketdata.replay import parse_instant, replay_sources
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import ChainClock
from offchain.settlement.margin import RiskEngineMargin
from tests.settlement.conftest import BTC_QTY, Devnet

MM, FUND = "Alpha Market Making", "Macro Fund"
STEP_HOURS = 4


def advance(d: Devnet, seconds: int) -> None:
    d.vault.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_simulated_week_margins_on_a_model_recalibrated_from_the_ledger(devnet: Devnet) -> None:
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    # The devnet's model is seeded up to 1 Nov 2022 (its risk_asof); the sources replay from the next close.
    feeder = Feeder(LedgerPriceSink(d.db), replay_sources(parse_instant("2022-11-02"), d.now_ms()))
    assert {o.source for o in feeder.step(d.now_ms())} == {"binance-spot", "binance-perp", "binance-mark"}
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", "d-1", "BTC-PERP", FUND, MM, BTC_QTY, 20_400))
    assert ack.status == AckStatus.ACCEPTED, ack
    # The week passes by warping the chain: the engine's clock is the chain's (as in the demo), so its marks,
    # calibration schedule and asOf follow the simulated time.
    engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0), clock=ChainClock(d.vault.w3))
    assert engine.step().fills == 1
    for _ in range(7 * 24 // STEP_HOURS):
        advance(d, STEP_HOURS * 3600)
        feeder.step(d.now_ms())
        assert engine.step().action == "settled"
    with d.db.connect() as conn:
        payloads = [p for (p,) in conn.execute(select(t.batches.c.payload).order_by(t.batches.c.sequence))]
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject)).all()
    models = [p["model"] for p in payloads if p.get("model")]
    versions = list(dict.fromkeys(m["version"] for m in models))
    assert len(versions) >= 7  # the seed and a recalibration for each complete day of the week
    assert int(models[-1]["ledger_days"]) >= 6
    assert len({m["data_hash"] for m in models}) == len(versions)
    assert all(len(p["price_evidence"]["BTC-USD-PERP"]["used"]) >= 2 for p in payloads[-5:] if p["marks_used"])
    assert not [a for a in alerts if a[0] == "calibration_stale"]
    # The rise cap runs in the live path (docs/risk.md, "Rise cap"): every posted IM lies between the stressed
    # floor and the model's IM, both recorded. (This book's stressed measure stays above its FHS ES all week,
    # so the floor is the model's IM; tests/settlement/test_rise_cap.py has books the cap binds on.)
    for p in payloads:
        for account, detail in p["margin_detail"].items():
            assert detail["stress_floor"] <= int(p["requirements"][account][0]) <= detail["model_im"]


def test_a_stale_calibration_refuses_to_margin_with_an_alert(devnet: Devnet) -> None:
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 200_000)
    d.prices(btc=20_000)
    engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0))
    margin = engine.builder.margin
    assert isinstance(margin, RiskEngineMargin) and margin.recalibrator is not None
    # Production places the seed on its real date: the close of 1 Nov 2022 is years before now.
    recal = margin.recalibrator
    recal.policy = replace(recal.policy, seed_end_ms=parse_instant("2022-11-02"))
    margin.calibration = recal.calibrate(None, parse_instant("2022-11-02"))[2]
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", "d-1", "BTC-PERP", FUND, MM, BTC_QTY, 20_000))
    assert ack.status == AckStatus.ACCEPTED
    sequence = d.vault.last_sequence()
    assert [engine.step().action for _ in range(3)] == ["idle"] * 3
    assert d.vault.last_sequence() == sequence
    with d.db.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.detail)).all()
        pending = conn.execute(select(t.fills.c.batch_sequence)).scalars().all()
    stale = [detail for kind, detail in alerts if kind == "calibration_stale"]
    assert len(stale) == 1 and "no new complete day of ledger candles" in stale[0]
    assert pending == [None]
