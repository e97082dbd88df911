"""The live IM rise cap (docs/risk.md, "Rise cap"): the engine posts at most 25 % a day above a member's IM
at the start of the day (scaled by how its book grew), never below its stressed floor, with the day-start
reference read back from the ledger's batches. Real models on the shipped data around two real crashes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from offchain.core.batch import Batch
from offchain.core.eip712 import Domain
from offchain.core.obligations import InstrumentSpec
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.batches import BatchPayload, MarginDetail, record_batch
from offchain.ledger.db import open_ledger
from offchain.ledger.margin_history import margin_before
from offchain.ledger.price_feed_store import LedgerPriceSink
from offchain.marketdata.candles import DAY_MS
from offchain.marketdata.feeder import Feeder
from offchain.marketdata.replay import parse_instant, replay_sources
from offchain.risk.config import MarginConfig
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import ChainClock
from offchain.settlement.margin import CollateralSpec, MemberMargin, RiskEngineMargin, build_risk_margin
from tests.settlement.conftest import BTC_QTY, Devnet, make_devnet

MM, FUND = "Alpha Market Making", "Macro Fund"

MEMBER = (1, "tier1")
BTC = "BTC-USD-PERP"
COLLATERAL = [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL]
CPRICES = {c.asset: 10**6 for c in COLLATERAL}  # no holdings: any price
MARKS = {BTC: 20_000 * 10**6, "ETH-USD-PERP": 1_500 * 10**6}


@lru_cache(maxsize=8)
def engine(asof: str, cap: float | None = 0.25) -> RiskEngineMargin:
    instruments = {
        i.name: InstrumentSpec(active=True, **{**i.model_dump(), "qty_decimals": 8}) for i in DEFAULT_INSTRUMENTS
    }
    return build_risk_margin(instruments, COLLATERAL, asof, config=MarginConfig(max_daily_rise=cap))


def margin(asof: str, btc: int, reference: dict[int, tuple[int, int]] | None = None) -> MemberMargin:
    return engine(asof).requirements([MEMBER], {(1, BTC): btc * 10**8}, MARKS, {}, CPRICES, reference)[1]


def ref(m: MemberMargin) -> dict[int, tuple[int, int]]:
    assert m.stress_floor is not None
    return {1: (m.im, m.stress_floor)}


def test_a_volatility_jump_is_phased_in_at_25_percent_a_day() -> None:
    # FTX: from the close of 8 Nov 2022 to that of 9 Nov the model's IM of a BTC perp rises by about half; the
    # stressed floor hardly moves (raw stressed-period returns), so 25 % over the day's reference binds.
    day0 = margin("2022-11-08", 10)
    model = margin("2022-11-09", 10)
    capped = margin("2022-11-09", 10, ref(day0))
    assert model.im == model.model_im and model.im > 1.4 * day0.im  # no reference: the model's IM
    assert capped.model_im == model.im and capped.stress_floor == model.stress_floor
    assert capped.stress_floor is not None and capped.stress_floor < math.ceil(1.25 * day0.im) < model.im
    assert day0.stress_floor is not None
    growth = capped.stress_floor / day0.stress_floor  # the floor moved 0.2 %: one more basis dislocation day
    assert 1 < growth < 1.01
    assert capped.im == math.ceil(day0.im * growth * 1.25)
    assert capped.mm == math.ceil(0.8 * capped.im) < model.mm


def test_the_stressed_floor_binds_over_the_cap() -> None:
    # COVID: on 12 March 2020 the model's IM more than doubles; against a day-start IM far below today's
    # stressed floor (a book margined in a calm market), the posted IM is the floor, above the 25 % cap.
    capped = margin("2020-03-12", 1)
    assert capped.model_im is not None and capped.stress_floor is not None
    assert capped.model_im > 2 * capped.stress_floor
    low = margin("2020-03-12", 1, {1: (capped.stress_floor // 2, capped.stress_floor)})
    assert low.im == capped.stress_floor > math.ceil(1.25 * (capped.stress_floor // 2))
    assert low.mm == math.ceil(0.8 * low.im)


def test_a_bigger_book_is_not_capped_by_yesterdays_smaller_one() -> None:
    # The reference grows with the stressed floor (the book's size at today's marks, not today's volatility):
    # a member that tripled its position since the day began is capped as the tripled book, not as the old one.
    day0 = margin("2022-11-08", 10)
    single = margin("2022-11-09", 10, ref(day0))
    triple = margin("2022-11-09", 30, ref(day0))
    assert triple.model_im is not None and triple.stress_floor is not None and day0.stress_floor is not None
    assert triple.im < triple.model_im  # still phased in
    assert triple.im == math.ceil(day0.im * (triple.stress_floor / day0.stress_floor) * 1.25)
    assert 3 * single.im <= triple.im < 3.01 * single.im  # the liquidity add-on grows faster than the book
    # A member flat at the start of the day has no reference to be capped against.
    flat = margin("2022-11-09", 10, {1: (0, 0)})
    assert flat.im == flat.model_im


def test_a_fall_follows_the_model_and_no_cap_means_the_model() -> None:
    day0 = margin("2022-11-09", 10)
    after = margin("2022-11-08", 10, ref(day0))  # a lower model IM than the reference: posted at once
    assert after.im == after.model_im
    no_cap = engine("2022-11-09", None).requirements([MEMBER], {(1, BTC): 10 * 10**8}, MARKS, {}, CPRICES, ref(day0))
    assert no_cap[1].im == no_cap[1].model_im
    with pytest.raises(ValueError, match="max_daily_rise"):
        MarginConfig(max_daily_rise=0.0)


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    return open_ledger(f"sqlite:///{tmp_path}/ledger.db")


def _payload(
    sequence: int, as_of: int, requirements: dict[int, tuple[int, int]], floors: dict[int, int]
) -> BatchPayload:
    return BatchPayload(
        batch=Batch(sequence=sequence, prev_hash=bytes(32), as_of=as_of),
        fill_ids=[],
        flows=[],
        marks_used={},
        mark_ts={},
        funding=[],
        position_changes={},
        requirements=requirements,
        collateral_marks={},
        margin_detail={a: replace(MarginDetail(0.0, 0.0, 0.0, 0), stress_floor=f) for a, f in floors.items()},
    )


def test_the_reference_is_the_last_confirmed_batch_before_the_day(db: Engine) -> None:
    domain = Domain("crossclear", "1", 31337, "0x" + "11" * 20)
    day = 20_000 * DAY_MS
    with db.begin() as conn:
        assert margin_before(conn, day) == {}
        record_batch(
            conn,
            _payload(1, (day - 7_200_000) // 1000, {1: (100, 80), 2: (50, 40)}, {1: 90, 2: 45}),
            domain,
            bytes(32),
            1,
            None,
        )
        record_batch(
            conn,
            _payload(2, (day - 3_600_000) // 1000, {1: (120, 96), 2: (50, 40)}, {1: 95}),
            domain,
            bytes(32),
            2,
            None,
        )
        record_batch(conn, _payload(3, (day + 60_000) // 1000, {1: (500, 400)}, {1: 400}), domain, bytes(32), 3, None)
        # The day's reference: batch 2 (the last before midnight); member 2's floor was not recorded there.
        assert margin_before(conn, day) == {1: (120, 95)}
        assert margin_before(conn, day - 3_600_000) == {1: (100, 90), 2: (50, 45)}


@pytest.fixture
def covid_devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A devnet whose model is seeded up to 6 March 2020 (SQLite: the cap's ledger read is the same SQL)."""
    yield from make_devnet(f"sqlite:///{tmp_path}/covid.db", risk_asof="2020-03-06")


def test_the_engine_phases_in_the_covid_jump_from_the_ledger_reference(covid_devnet: Devnet) -> None:
    # Through the builder: three replayed sources from 7 March 2020, the chain clock 4 h a batch, the model
    # recalibrated daily from the ledger; after 12 March the model's IM of the perp book nearly doubles against
    # the day-start IM of the batches the engine stored, and the engine posts 25 % above that reference (above
    # the stressed floor), then catches up by 25 % the next day.
    d = covid_devnet
    d.deposit(MM, 2_000_000)
    d.deposit(FUND, 2_000_000)
    # History days line up with the ledger's (the model recalibrates on ledger days): the replay starts at the
    # chain's time of day on 7 March, whatever time of day the test runs at.
    start = d.now_ms()
    feeder = Feeder(LedgerPriceSink(d.db), replay_sources(parse_instant("2020-03-07") + start % DAY_MS, start))
    feeder.step(start)
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", "c-1", "BTC-PERP", FUND, MM, BTC_QTY, 8_900))
    assert ack.status == AckStatus.ACCEPTED, ack
    engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0), clock=ChainClock(d.vault.w3))
    engine.step()
    for _ in range(8 * 24 // 4):
        d.vault.w3.provider.make_request("evm_increaseTime", [4 * 3600])  # type: ignore[arg-type]
        d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        feeder.step(d.now_ms())
        engine.step()
    with d.db.connect() as conn:
        rows = conn.execute(select(t.batches.c.as_of_ms, t.batches.c.payload).order_by(t.batches.c.sequence)).all()
        fund = next(a for a, name in conn.execute(select(t.members.c.account, t.members.c.name)) if name == FUND)
    capped = []
    for as_of_ms, p in rows:
        detail = p["margin_detail"].get(str(fund))
        if not detail:
            continue
        im = int(p["requirements"][str(fund)][0])
        assert detail["stress_floor"] <= im <= detail["model_im"]
        if im < detail["model_im"]:
            capped.append((as_of_ms, im, int(detail["model_im"]), int(detail["stress_floor"])))
    assert capped, "the COVID jump was not phased in"
    with d.db.connect() as conn:
        for as_of_ms, im, model, floor in capped:  # every capped batch posts the cap over its day's reference
            reference = margin_before(conn, as_of_ms - as_of_ms % DAY_MS)[fund]
            assert im == max(floor, min(model, math.ceil(reference[0] * max(1.0, floor / reference[1]) * 1.25)))
    as_of_ms, im, model, floor = max(capped, key=lambda c: c[2] / c[1])  # the COVID jump
    assert model > 1.5 * im and im > floor  # a large part of the jump held back; the cap binds, not the floor
    later = [c for c in capped if c[0] - c[0] % DAY_MS > as_of_ms - as_of_ms % DAY_MS]
    assert later and later[0][1] > im  # the next day's posted IM catches up
