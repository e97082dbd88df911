"""Close-out auctions over the API: the public tranche list, and members' signed bids passed to the
auction house — accepted and stored, or refused with the house's reason as a 4xx (never a 5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select

from offchain.api import create_app
from offchain.core.bid import Bid
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from tests.api.auction_setup import (
    OPENED_AT,
    PARAMS,
    RESIDUAL_PRICE,
    TRANCHE_QTY,
    WON_PRICE,
    WON_QTY,
    bid_json,
    house_factory,
    seed_auction,
)
from tests.api.conftest import ALICE, BOB, BTC_MARK, CAROL, NOW_MS, Api, Clock, populate, settings

BAND = BTC_MARK * PARAMS.band_bps // 10_000


def make(db_url: str, **kw: Any) -> Iterator[Api]:
    engine = open_ledger(db_url)
    populate(engine)
    seed_auction(engine)
    clock = Clock()
    app = create_app(settings(db_url, **kw), engine=engine, clock=clock, auction_house=house_factory(clock))
    with TestClient(app) as client:
        yield Api(client, engine, clock)
    engine.dispose()


@pytest.fixture
def auctions(ledger_url: str) -> Iterator[Api]:
    yield from make(ledger_url)


def a_bid(who: LocalAccount = ALICE, **kw: Any) -> Bid:
    values: dict[str, Any] = {
        "auction": 1,
        "tranche": 1,
        "instrument": "BTC-USD-PERP",
        "buy": True,
        "qty": 20_000_000,
        "price": BTC_MARK - 50 * 10**6,
        "bidder": who.address,
        "expiry": NOW_MS // 1000 + 600,
    }
    values.update(kw)
    return Bid(**values)


def stored_bids(api: Api) -> list[tuple[Any, ...]]:
    ab = t.auction_bids.c
    with api.engine.connect() as conn:
        rows = conn.execute(select(ab.bidder, ab.tranche, ab.qty, ab.price, ab.outcome).order_by(ab.id)).all()
    return [tuple(r) for r in rows]


def test_the_list_shows_open_and_cleared_tranches_with_results_and_pages(auctions: Api) -> None:
    r = auctions.client.get("/v1/auctions")
    assert r.status_code == 200, r.text
    cleared, open_ = r.json()["items"]
    assert r.json()["next_cursor"] is None
    assert cleared == {
        "default_id": 1,
        "tranche": 0,
        "defaulter": 12,
        "instrument": "BTC-USD-PERP",
        "qty": str(TRANCHE_QTY),
        "side": "sell",
        "mark": str(BTC_MARK),
        "band_low": str(BTC_MARK - BAND),
        "band_high": str(BTC_MARK + BAND),
        "opened_at": OPENED_AT - PARAMS.interval_s,
        "deadline": OPENED_AT,
        "status": "cleared",
        "result": {
            "bid_qty": str(WON_QTY),
            "residual_qty": str(TRANCHE_QTY - WON_QTY),
            "residual_price": str(RESIDUAL_PRICE),
            "awards": [{"bidder": BOB.address, "qty": str(WON_QTY), "price": str(WON_PRICE)}],
        },
    }
    assert (open_["tranche"], open_["status"], open_["deadline"], open_["result"]) == (
        1,
        "open",
        OPENED_AT + PARAMS.interval_s,
        None,
    )

    first = auctions.client.get("/v1/auctions", params={"limit": 1}).json()
    assert [i["tranche"] for i in first["items"]] == [0] and first["next_cursor"] == 2**32
    second = auctions.client.get("/v1/auctions", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [i["tranche"] for i in second["items"]] == [1]
    only_open = auctions.client.get("/v1/auctions", params={"status": "open"}).json()["items"]
    assert [i["tranche"] for i in only_open] == [1]
    assert auctions.client.get("/v1/auctions", params={"default_id": 2}).json()["items"] == []


def test_a_valid_bid_is_accepted_and_stored(auctions: Api) -> None:
    bid = a_bid()
    r = auctions.client.post("/v1/auctions/bids", json=bid_json(bid, ALICE))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "accepted" and r.json()["bid_id"] > 0
    assert stored_bids(auctions)[-1] == (ALICE.address, 1, bid.qty, bid.price, None)


@pytest.mark.parametrize(
    ("bid", "key", "status", "error", "stored"),
    [
        (a_bid(), BOB, 401, "bad_signature", False),  # BOB signs ALICE's bid
        (a_bid(price=BTC_MARK - BAND - 1), ALICE, 409, "out_of_band", True),
        (a_bid(price=BTC_MARK + BAND + 1), ALICE, 409, "out_of_band", True),
        (a_bid(buy=False), ALICE, 409, "wrong_side", True),
        (a_bid(expiry=NOW_MS // 1000 - 1), ALICE, 409, "expired", True),
        (a_bid(CAROL), CAROL, 403, "not_eligible", True),  # not a member
        (a_bid(tranche=0), ALICE, 409, "no_open_tranche", False),  # cleared
        (a_bid(tranche=2), ALICE, 404, "no_open_tranche", False),
        (a_bid(auction=7), ALICE, 404, "no_open_tranche", False),
        (a_bid(instrument="ETH-USD-PERP"), ALICE, 404, "no_open_tranche", False),
        (a_bid(auction=2**53 - 1, tranche=2**32 - 1), ALICE, 404, "no_open_tranche", False),
    ],
)
def test_a_refused_bid_answers_the_house_reason(
    auctions: Api, bid: Bid, key: LocalAccount, status: int, error: str, stored: bool
) -> None:
    before = stored_bids(auctions)
    r = auctions.client.post("/v1/auctions/bids", json=bid_json(bid, key))
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and isinstance(body["detail"], str) and body["errors"] == []
    after = stored_bids(auctions)
    if stored:  # the house keeps it, with the refusal as outcome
        assert body["bid_id"] is not None and after[len(before) :] == [
            (bid.bidder, bid.tranche, bid.qty, bid.price, error.upper())
        ]
    else:
        assert body["bid_id"] is None and after == before
    if error == "out_of_band":
        assert f"({BTC_MARK - BAND}..{BTC_MARK + BAND})" in body["detail"]


def test_a_member_under_a_margin_call_is_not_eligible(auctions: Api) -> None:
    from offchain.ingest import registry
    from tests.api.conftest import ALICE_ACCOUNT

    with auctions.engine.begin() as conn:
        registry.set_member_status(conn, ALICE_ACCOUNT, "close_only")
    r = auctions.client.post("/v1/auctions/bids", json=bid_json(a_bid(), ALICE))
    assert (r.status_code, r.json()["error"]) == (403, "not_eligible")


@pytest.mark.parametrize(
    "change",
    [
        {"qty": "0"},
        {"qty": str(2**128)},
        {"price": "-1"},
        {"expiry": 2**63},
        {"bidder": "0x12"},
        {"auction": 0},
    ],
)
def test_malformed_bids_are_422(auctions: Api, change: dict[str, Any]) -> None:
    body: Any = bid_json(a_bid(), ALICE)
    body["bid"].update(change)
    r = auctions.client.post("/v1/auctions/bids", json=body)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request"), r.text


def test_bids_are_rate_limited_per_bidder(tmp_path: Any) -> None:
    for api in make(f"sqlite:///{tmp_path / 'rl.db'}", fill_burst=1, fill_rate_per_s=0.001):
        assert api.client.post("/v1/auctions/bids", json=bid_json(a_bid(), ALICE)).status_code == 201
        r = api.client.post("/v1/auctions/bids", json=bid_json(a_bid(qty=1), ALICE))
        assert (r.status_code, r.json()["error"]) == (429, "rate_limited") and "Retry-After" in r.headers
        assert api.client.post("/v1/auctions/bids", json=bid_json(a_bid(BOB), BOB)).status_code == 201


def test_without_an_auction_house_the_routes_answer_424(api: Api) -> None:
    for r in (
        api.client.get("/v1/auctions"),
        api.client.post("/v1/auctions/bids", json=bid_json(a_bid(), ALICE)),
    ):
        assert (r.status_code, r.json()["error"]) == (424, "auctions_unavailable")
