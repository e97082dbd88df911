"""Fills (single, bulk, acks), proofs that verify, sessions and who may read what."""

from __future__ import annotations

from typing import Any

from offchain.core.merkle import verify
from tests.api.conftest import (
    ALICE,
    ALICE_ACCOUNT,
    BOB,
    BOB_ACCOUNT,
    BTC_MARK,
    CAROL,
    OPERATOR,
    VENUE,
    Api,
    fill_json,
    settle_pending,
    sub_account_payload,
)


def test_single_and_bulk_fills_ack_with_reasons(api_any: Api) -> None:
    api = api_any
    r = api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(1)))
    assert r.status_code == 200 and r.json()["status"] == "accepted" and r.json()["fill_id"] == 1
    again = api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(1)))
    assert again.json()["status"] == "duplicate"
    bulk = [fill_json(api.fill(n)) for n in range(2, 12)]
    bulk.append(fill_json(api.fill(12, symbol="NOPE")))  # unknown symbol
    bulk.append(fill_json(api.fill(13), key=CAROL))  # not the venue's key
    bulk.append(fill_json(api.fill(14, seller=ALICE.address)))  # self-trade
    acks = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": bulk}).json()
    assert [a["status"] for a in acks[:10]] == ["accepted"] * 10
    assert [a["reason"] for a in acks[10:]] == ["UNKNOWN_SYMBOL", "WRONG_SIGNER", "SELF_TRADE"]


def test_bulk_with_a_fill_for_another_venue_writes_nothing(api: Api) -> None:
    bulk = [fill_json(api.fill(1)), fill_json(api.fill(2, venue="other"))]
    r = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": bulk})
    assert r.status_code == 403 and r.json()["error"] == "venue_mismatch"
    h = api.login(VENUE)
    assert api.client.get("/v1/venues/dexA/fills", headers=h).json()["items"] == []


def test_proofs_verify_against_the_batch_root(api_any: Api) -> None:
    api = api_any
    api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(1, 8)]})
    h = api.login(VENUE)
    pending = api.client.get("/v1/venues/dexA/fills/f-3", headers=h).json()
    assert pending["fill"]["status"] == "pending" and pending["proof"] is None
    root = settle_pending(api.engine, 1)
    for n in range(1, 8):
        body = api.client.get(f"/v1/venues/dexA/fills/f-{n}", headers=h).json()
        p = body["proof"]
        assert body["fill"]["status"] == "settled" and p["batch_sequence"] == 1
        assert p["root"] == "0x" + root.hex() and p["tx_hash"] == "0x" + "77" * 32
        assert verify(
            bytes.fromhex(p["root"][2:]), bytes.fromhex(p["leaf"][2:]), [bytes.fromhex(x[2:]) for x in p["proof"]]
        )
    # The buyer may read the proof too; a stranger may not.
    assert api.client.get("/v1/venues/dexA/fills/f-1", headers=api.login(ALICE)).status_code == 200
    assert api.client.get("/v1/venues/dexA/fills/f-1", headers=api.login(CAROL)).status_code == 403
    batch = api.client.get("/v1/batches/1").json()
    assert batch["fills_root"] == "0x" + root.hex() and batch["fill_count"] == 7
    published = api.client.get("/v1/batches/1/fills", params={"limit": 3}).json()
    assert len(published["items"]) == 3 and published["next_cursor"] == 3
    rest = api.client.get("/v1/batches/1/fills", params={"cursor": 3, "limit": 10}).json()
    assert len(rest["items"]) == 4 and rest["next_cursor"] is None


def test_sessions_and_cross_member_access(api: Api) -> None:
    api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(1, 4)]})
    settle_pending(api.engine, 1)
    alice, bob = api.login(ALICE), api.login(BOB)
    for path in ("margin", "positions", "margin-calls", "cash-flows", "sub-accounts", ""):
        url = f"/v1/members/{BOB_ACCOUNT}/{path}".rstrip("/")
        r = api.client.get(url, headers=alice)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", url
        assert api.client.get(url, headers=bob).status_code == 200, url
        assert api.client.get(url).status_code == 401
        assert api.client.get(url, headers={"Authorization": "Bearer cc1.x.y"}).json()["error"] == "session_invalid"
    m = api.client.get(f"/v1/members/{ALICE_ACCOUNT}/margin", headers=alice).json()
    assert m["im"] == str(5_000 * 10**6) and m["collateral_value"] == str(10**10)
    assert m["excess"] == str(10**10 - 5_000 * 10**6) and m["concentration_addon"] == str(3 * 10**8)
    pos = api.client.get(f"/v1/members/{ALICE_ACCOUNT}/positions", headers=alice).json()
    (net,) = pos["netted"]
    assert net["qty"] == str(3 * 10_000_000) and net["entry_price"] == str(BTC_MARK) and net["unrealised_pnl"] == "0"
    assert net["adl_rank"] is None and net["loss_socialisation_exposure"] == "0"  # no profit: not in the ADL queue
    assert pos["by_venue"] == [{"instrument": "BTC-USD-PERP", "venue": "dexA", "qty": str(3 * 10_000_000)}]
    # The operator reads everyone; an expired token reads nothing.
    assert api.client.get(f"/v1/members/{BOB_ACCOUNT}/margin", headers=api.login(OPERATOR)).status_code == 200
    api.clock.now += 2 * 3600 * 1000
    assert api.client.get(f"/v1/members/{ALICE_ACCOUNT}/margin", headers=alice).json()["error"] == "session_invalid"


def test_venue_fill_listing_is_private_to_the_venue(api: Api) -> None:
    api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(1)))
    r = api.client.get("/v1/venues/dexA/fills", headers=api.login(ALICE))
    assert r.status_code == 403
    body: Any = api.client.get("/v1/venues/dexA/fills", params={"status": "pending"}, headers=api.login(VENUE)).json()
    assert [f["venue_fill_id"] for f in body["items"]] == ["f-1"]


def test_sub_account_is_read_by_its_parent(api: Api) -> None:
    from eth_account import Account

    sub = Account.from_key("0x" + "5b" * 32)
    payload = sub_account_payload(sub, ALICE_ACCOUNT, "basis", api.clock.now // 1000 + 600)
    r = api.signed(BOB, "POST", f"/v1/members/{ALICE_ACCOUNT}/sub-accounts", payload)
    assert r.status_code == 403  # Bob cannot open Alice's sub-accounts
    r = api.signed(ALICE, "POST", f"/v1/members/{ALICE_ACCOUNT}/sub-accounts", payload)
    assert r.status_code == 201 and r.json()["parent"] == ALICE_ACCOUNT and r.json()["kind"] == "sub_account"
    r = api.signed(OPERATOR, "POST", f"/v1/membership/applications/{r.json()['id']}/approve", {"account": 20})
    assert r.status_code == 200
    alice = api.login(ALICE)
    assert api.client.get("/v1/members/20/margin", headers=alice).status_code == 200
    assert api.client.get("/v1/members/20", headers=alice).json()["parent"] == ALICE_ACCOUNT
    assert api.client.get("/v1/members/20/margin", headers=api.login(BOB)).status_code == 403


def test_public_views(api: Api) -> None:
    api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(1, 3)]})
    settle_pending(api.engine, 1)
    (btc,) = api.client.get("/v1/platform/imbalance").json()
    groups = {g["group"]: g for g in btc["groups"]}
    assert groups["professional"]["one_sided"] == 1.0 and groups["buy_side"]["one_sided"] == -1.0
    assert btc["platform_one_sided"] == 0.0
    fund = api.client.get("/v1/default-fund").json()
    assert fund["source"] == "ledger" and fund["account"] == 2
    assert api.client.get("/v1/waterfall").json()["items"] == []
    assert api.client.get("/v1/batches").json()["items"][0]["tx_hash"] == "0x" + "77" * 32
    assert api.client.get("/v1/batches/99").json()["error"] == "unknown_batch"
    assert api.client.get("/v1/nope").json()["error"] == "not_found"
    r = api.client.get(f"/v1/members/{ALICE_ACCOUNT}/withdrawals", headers=api.login(ALICE))
    assert r.status_code == 424 and r.json()["error"] == "chain_unavailable"


def test_member_views_show_the_exiting_status(api: Api) -> None:
    """A member with an open exit request on the vault is `exiting` (the settlement engine syncs it,
    offchain/chain/exits.py): its membership and margin views say so, and the schema lists every status."""
    from offchain.ingest import registry

    with api.engine.begin() as conn:
        registry.set_member_status(conn, ALICE_ACCOUNT, "exiting")
    alice = api.login(ALICE)
    assert api.client.get(f"/v1/members/{ALICE_ACCOUNT}", headers=alice).json()["status"] == "exiting"
    assert api.client.get("/v1/members/me", headers=alice).json()["status"] == "exiting"
    assert api.client.get(f"/v1/members/{ALICE_ACCOUNT}/margin", headers=alice).json()["status"] == "exiting"
    schemas = api.client.get("/v1/openapi.json").json()["components"]["schemas"]
    for model in ("MemberOut", "MarginOut"):
        assert set(schemas[model]["properties"]["status"]["enum"]) == registry.MEMBER_STATUSES, model
