"""Ingest refuses, per fill with POSITION_LIMIT, a fill that takes a member beyond its tier's position limit
(the risk engine's own check, `RiskEngineMargin.position_limit`, over a real calibrated model), counting
settled positions, stored fills no batch has applied, and the bulk's earlier fills — on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from sqlalchemy import insert

from offchain.core.obligations import InstrumentSpec
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.ingest import AckStatus, Ingestor, Reason, registry
from offchain.ingest.recovery import PARALLEL_MIN
from offchain.ledger.schema import positions
from offchain.risk.limits import POSITION_LIMIT
from offchain.settlement.margin import CollateralSpec, RiskEngineMargin, build_risk_margin
from tests.ingest.conftest import DOMAIN, NOW, World, sign

NEWBIE = Account.from_key("0x" + "a7" * 32).address  # tier3: limit 1 x depth
HOUSE = Account.from_key("0x" + "b8" * 32).address  # tier1: limit 4 x depth
ODD = Account.from_key("0x" + "c9" * 32).address  # a tier the risk engine has no limits for
UNIT = 10**8  # BTC-USD-PERP quantity units per BTC


@pytest.fixture(scope="module")
def margin() -> RiskEngineMargin:
    ins = {i.name: InstrumentSpec(active=True, **i.model_dump()) for i in DEFAULT_INSTRUMENTS}
    return build_risk_margin(ins, [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL], "2022-11-01")


@pytest.fixture
def limited(world: World, margin: RiskEngineMargin) -> Iterator[tuple[World, Ingestor, int]]:
    """The world plus three tiered members, an ingestor checking limits, and tier3's limit in units."""
    with world.engine.begin() as conn:
        for account, address, tier in ((11, NEWBIE, "tier3"), (12, HOUSE, "tier1"), (13, ODD, "gold")):
            registry.admit_member(conn, account, address, f"m{account}", "market_maker", tier, "mm", created_ms=NOW)
            registry.grant(conn, account, "BTC-USD-PERP")
    ingestor = Ingestor(world.engine, DOMAIN, clock=world.clock, position_limit=margin.position_limit)
    depth = float(margin.model.depth[margin.columns["BTC-USD-PERP"]])
    yield world, ingestor, int(depth * UNIT)  # tier3's limit, rounded down to a unit
    ingestor.close()


def test_the_code_is_the_risk_engines() -> None:
    assert Reason.POSITION_LIMIT.value == POSITION_LIMIT


def test_a_fill_beyond_the_buyers_limit_is_refused_and_one_within_it_accepted(
    limited: tuple[World, Ingestor, int],
) -> None:
    world, ingestor, limit = limited
    within = world.fill(venue_fill_id="in", buyer=NEWBIE, seller=HOUSE, qty=limit)
    beyond = world.fill(venue_fill_id="out", buyer=NEWBIE, seller=HOUSE, qty=2)
    acks = ingestor.submit_many([(within, sign(within)), (beyond, sign(beyond))])
    assert acks[0].status is AckStatus.ACCEPTED
    assert acks[1].status is AckStatus.REJECTED and acks[1].reason is Reason.POSITION_LIMIT
    assert "buyer account 11" in acks[1].detail and "tier3 limit" in acks[1].detail
    assert set(world.stored()) == {("dexA", "in")}
    assert world.rejection_reasons() == ["POSITION_LIMIT"]


def test_the_seller_side_is_checked_too(limited: tuple[World, Ingestor, int]) -> None:
    world, ingestor, limit = limited
    short = world.fill(venue_fill_id="s", buyer=HOUSE, seller=NEWBIE, qty=limit + UNIT)
    ack = ingestor.submit(short, sign(short))
    assert ack.reason is Reason.POSITION_LIMIT and "seller account 11" in ack.detail
    assert world.stored() == {}


def test_a_bulk_cannot_step_past_the_limit_in_small_fills_and_a_reduction_always_passes(
    limited: tuple[World, Ingestor, int],
) -> None:
    world, ingestor, limit = limited
    step = limit // 3 + 1  # three steps cross the limit
    bulk = [world.fill(venue_fill_id=f"b{i}", buyer=NEWBIE, seller=HOUSE, qty=step) for i in range(3)]
    bulk.append(world.fill(venue_fill_id="back", buyer=HOUSE, seller=NEWBIE, qty=step))  # reduces
    acks = ingestor.submit_many([(f, sign(f)) for f in bulk])
    assert [a.reason for a in acks] == [None, None, Reason.POSITION_LIMIT, None]
    assert set(world.stored()) == {("dexA", "b0"), ("dexA", "b1"), ("dexA", "back")}


def test_pending_fills_and_settled_positions_count(limited: tuple[World, Ingestor, int]) -> None:
    world, ingestor, limit = limited
    with world.engine.begin() as conn:  # settled: short on one venue, long on another; net = limit - 2 units
        conn.execute(
            insert(positions),
            [
                {"member": 11, "instrument": "BTC-USD-PERP", "venue": "dexA", "qty": limit - UNIT},
                {"member": 11, "instrument": "BTC-USD-PERP", "venue": "cexB", "qty": -UNIT},
            ],
        )
    pending = world.fill(venue_fill_id="p", buyer=NEWBIE, seller=HOUSE, qty=2 * UNIT)  # reaches the limit
    assert ingestor.submit(pending, sign(pending)).status is AckStatus.ACCEPTED
    again = world.fill(venue_fill_id="q", buyer=NEWBIE, seller=HOUSE, qty=1)  # pending + settled + 1 > limit
    assert ingestor.submit(again, sign(again)).reason is Reason.POSITION_LIMIT
    fresh = Ingestor(world.engine, DOMAIN, clock=world.clock)  # without limits the same fill passes
    assert fresh.submit(again, sign(again)).status is AckStatus.ACCEPTED


def test_a_tier_without_limits_is_refused_not_cleared_unbounded(limited: tuple[World, Ingestor, int]) -> None:
    world, ingestor, _ = limited
    fill = world.fill(venue_fill_id="odd", buyer=ODD, seller=HOUSE, qty=1)
    ack = ingestor.submit(fill, sign(fill))
    assert ack.reason is Reason.POSITION_LIMIT and "'gold'" in ack.detail
    assert world.stored() == {}


def test_through_the_recovery_workers_the_bulk_is_limited_as_one_sequence(
    limited: tuple[World, Ingestor, int], margin: RiskEngineMargin
) -> None:
    """A bulk big enough for the workers is stored piece by piece: the live positions of every member the bulk
    names are read once, before the first piece goes in, and moved by each accepted fill, so the limit falls
    where one fill-by-fill walk puts it. (Read per piece, NEWBIE, named only in later pieces, would be missed
    by the first piece's read; read later, the earlier pieces' own fills would count twice.)"""
    world, _, limit = limited
    big = Account.from_key("0x" + "d1" * 32).address
    with world.engine.begin() as conn:
        registry.admit_member(conn, 14, big, "m14", "market_maker", "tier1", "mm", created_ms=NOW)
        registry.grant(conn, 14, "BTC-USD-PERP")
    pending = world.fill(venue_fill_id="pending", buyer=NEWBIE, seller=HOUSE, qty=limit // 2)
    with_workers = Ingestor(
        world.engine, DOMAIN, clock=world.clock, position_limit=margin.position_limit, recovery_workers=2
    )
    step = limit // PARALLEL_MIN + 1  # about PARALLEL_MIN / 2 steps reach the limit
    first = [world.fill(venue_fill_id=f"h{i}", buyer=HOUSE, seller=big, qty=1) for i in range(PARALLEL_MIN)]
    then = [world.fill(venue_fill_id=f"n{i}", buyer=NEWBIE, seller=HOUSE, qty=step) for i in range(PARALLEL_MIN)]
    try:
        assert with_workers.submit(pending, sign(pending)).status is AckStatus.ACCEPTED
        acks = with_workers.submit_many([(f, sign(f)) for f in first + then])
    finally:
        with_workers.close()
    expected: list[Reason | None] = []
    position = limit // 2
    for _ in then:
        breach = margin.position_limit("tier3", "BTC-USD-PERP", position, position + step)
        expected.append(None if breach is None else Reason.POSITION_LIMIT)
        position += step if breach is None else 0
    assert [a.reason for a in acks] == [None] * len(first) + expected
    accepted = expected.count(None)
    assert 0 < accepted < len(then)
    assert len(world.stored()) == 1 + len(first) + accepted
