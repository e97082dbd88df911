"""One clock rule: the engine's now is the wall clock, and the chain's clock is only checked against it.

- the chain warped forward (Anvil `evm_increaseTime`, as a devnet does to test a withdrawal delay) does not
  stop settlement: fills stamped and marks published on the wall clock settle, in batches stamped with the
  wall clock, and no mark is judged stale;
- the heartbeat fires on the wall clock without anyone mining a block;
- a chain running ahead beyond the production bound halts with one alert, and `/v1/health` says so;
- a chain whose clock lags the batch's wall-clock asOf keeps the stored batch and sends it once the chain
  catches up (beyond the lag bound: halted with an alert).
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from offchain.api.config import ApiSettings
from offchain.api.main import create_app
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.prices import record_price
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import ClockRule, WallClock
from tests.settlement.conftest import BTC_QTY, USDC, Devnet
from tests.settlement.test_engine import FUND, MM

HOUR = 3600
HEARTBEAT_S = 5  # long enough that a step right after a batch is idle on a loaded machine


def warp(d: Devnet, seconds: int) -> None:
    d.vault.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def wall_prices(d: Devnet, btc: float) -> None:
    """What a feeder publishes: prices stamped with the wall clock."""
    now = WallClock().now_ms()
    with d.db.begin() as conn:
        for symbol, usd in (("BTC-USD-PERP", btc), ("ETH-USD-PERP", 1_500.0), ("BTC", btc), ("ETH", 1_500.0)):
            record_price(conn, symbol, round(usd * USDC), now, "feeder")


def alerts(d: Devnet, kind: str) -> int:
    with d.db.connect() as conn:
        return len(conn.execute(select(t.alerts.c.id).where(t.alerts.c.kind == kind)).all())


def test_settlement_continues_after_the_chain_is_warped_forward(devnet: Devnet) -> None:
    d = devnet
    for name, usd in ((MM, 500_000), (FUND, 200_000)):
        d.deposit(name, usd)
    engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=HEARTBEAT_S))
    wall_prices(d, 20_000)
    assert engine.step().action == "settled"  # first batch: marks and requirements

    warp(d, 2 * HOUR)  # the chain now runs two hours ahead of the wall
    lead = int(d.vault.w3.eth.get_block("latest")["timestamp"]) - int(time.time())
    assert lead >= 2 * HOUR - 5
    wall_prices(d, 20_100)
    ack = ingestor(d.spec, d.db).submit_many([d.fill("dex-perp", "w-1", "BTC-PERP", FUND, MM, BTC_QTY, 20_100)])
    assert ack[0].status == AckStatus.ACCEPTED  # ingest's window is the wall clock too
    before_ms = WallClock().now_ms()
    result = engine.step()
    assert result.action == "settled" and result.fills == 1
    assert alerts(d, "mark_stale") == 0  # marks are judged on the wall clock, not the warped chain's
    with d.db.connect() as conn:
        as_of_ms = conn.execute(
            select(t.batches.c.as_of_ms).where(t.batches.c.sequence == result.sequence)
        ).scalar_one()
    # Stamped with the wall clock (the vault accepts it: asOf <= block time), not the chain's.
    assert before_ms - 1_000 <= as_of_ms <= WallClock().now_ms()

    # The heartbeat: nothing to settle, no block mined by anyone; after heartbeat_s of wall time, a batch.
    assert engine.step().action == "idle"
    block = d.vault.w3.eth.block_number
    time.sleep(HEARTBEAT_S + 0.5)
    assert d.vault.w3.eth.block_number == block
    wall_prices(d, 20_100)
    assert engine.step().action == "settled"


def test_a_chain_running_ahead_beyond_the_bound_halts_and_health_says_so(devnet: Devnet) -> None:
    d = devnet
    d.deposit(MM, 100_000)
    engine = settlement_engine(d.spec, d.db)
    engine.clock_rule = ClockRule(max_lead_s=120)  # the production bound (the devnet's settings lift it)
    wall_prices(d, 20_000)
    assert engine.step().action == "settled"
    client = TestClient(create_app(ApiSettings(db_url=d.db_url), engine=d.db))
    assert client.get("/v1/health").json()["status"] == "ok"

    warp(d, 10 * 60)
    wall_prices(d, 20_000)
    sequence = d.vault.last_sequence()
    assert engine.step().action == "halted"
    assert engine.step().action == "halted"
    assert d.vault.last_sequence() == sequence  # nothing settled while halted
    assert alerts(d, "chain_clock_ahead") == 1  # one alert per episode, not one per step
    health = client.get("/v1/health").json()
    assert health["status"] == "halted" and "ahead of the wall clock" in health["halted"]


class AheadClock:
    """A wall clock `offset_s` fast: to the chain, it is the chain's clock that lags."""

    def __init__(self, offset_s: int) -> None:
        self.offset_s = offset_s

    def now_ms(self) -> int:
        return WallClock().now_ms() + self.offset_s * 1000


def test_a_lagging_chain_keeps_the_batch_and_sends_it_when_it_catches_up(devnet: Devnet) -> None:
    d = devnet
    d.deposit(MM, 100_000)
    clock = AheadClock(300)
    engine = settlement_engine(d.spec, d.db, clock=clock)
    engine.clock_rule = ClockRule(max_lead_s=120, max_lag_s=60)
    with d.db.begin() as conn:
        for symbol in ("BTC-USD-PERP", "BTC"):
            record_price(conn, symbol, 20_000 * USDC, clock.now_ms(), "feeder")
        for symbol in ("ETH-USD-PERP", "ETH"):
            record_price(conn, symbol, 1_500 * USDC, clock.now_ms(), "feeder")
    sequence = d.vault.last_sequence()
    assert engine.step().action == "halted"  # the vault calls asOf "in the future": 300 s > 60 s bound
    assert engine.step().action == "halted"
    assert alerts(d, "chain_clock_behind") == 1 and alerts(d, "batch_refused") == 0  # one per episode
    client = TestClient(create_app(ApiSettings(db_url=d.db_url), engine=d.db))
    health = client.get("/v1/health").json()
    assert health["status"] == "halted" and "behind the wall clock" in health["halted"]
    with d.db.connect() as conn:
        stored = conn.execute(select(t.batches.c.sequence, t.batches.c.status, t.batches.c.digest)).all()[-1]
    assert stored.sequence == sequence + 1 and stored.status == "built"  # kept, never abandoned
    warp(d, 400)  # the chain's clock catches up
    result = engine.step()
    assert result.action == "settled" and result.sequence == sequence + 1
    engine.step()
    assert client.get("/v1/health").json()["status"] == "ok"  # resumed once the batch landed
    found = d.vault.settled_digest(sequence + 1)
    assert found is not None and found[0] == bytes(stored.digest)  # the same stored batch went out
