"""The WebSocket stream and webhook registration: who may listen to what, and what a venue hears."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import ALICE, ALICE_ACCOUNT, BOB, BOB_ACCOUNT, VENUE, Api, fill_json, settle_pending


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_the_stream_needs_a_session_that_may_read_it(api: Api) -> None:
    for url in ("/v1/stream", "/v1/stream?token=cc1.forged.x"):
        with pytest.raises(WebSocketDisconnect) as refused, api.client.websocket_connect(url):
            pass
        assert refused.value.code == 4401
    alice = _token(api.login(ALICE))
    for url in (f"/v1/stream?token={alice}&account={BOB_ACCOUNT}", f"/v1/stream?token={alice}&venue=dexA"):
        with pytest.raises(WebSocketDisconnect) as refused, api.client.websocket_connect(url):
            pass
        assert refused.value.code == 4403
    api.client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {alice}"})
    with pytest.raises(WebSocketDisconnect) as refused, api.client.websocket_connect(f"/v1/stream?token={alice}"):
        pass
    assert refused.value.code == 4401


def test_member_and_venue_streams_carry_fills_acks_positions_and_settlements(api: Api) -> None:
    member = _token(api.login(ALICE))
    venue = _token(api.login(VENUE))
    with (
        api.client.websocket_connect(f"/v1/stream?token={member}") as m,
        api.client.websocket_connect(f"/v1/stream?token={venue}&venue=dexA") as v,
    ):
        assert m.receive_json()["subject"] == ALICE_ACCOUNT and v.receive_json()["stream"] == "venue"
        api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(2)]})
        acks = [v.receive_json() for _ in range(2)]
        assert [(a["type"], a["venue_fill_id"]) for a in acks] == [("ack", "f-0"), ("ack", "f-1")]
        fills = [m.receive_json() for _ in range(2)]
        assert [(f["type"], f["side"], f["fill_id"]) for f in fills] == [("fill", "buy", 1), ("fill", "buy", 2)]
        settle_pending(api.engine, 1)
        assert v.receive_json() == {
            "type": "settlement",
            "batch_sequence": 1,
            "tx_hash": "0x" + "77" * 32,
            "fills_root": v_root(api),
            "venue_fills": 2,
        }
        positions = m.receive_json()
        assert positions == {"type": "positions", "batch_sequence": 1, "netted": {"BTC-USD-PERP": str(2 * 10_000_000)}}


def v_root(api: Api) -> str:
    return str(api.client.get("/v1/batches/1").json()["fills_root"])


def test_only_the_member_registers_its_webhooks(api: Api) -> None:
    path = f"/v1/members/{ALICE_ACCOUNT}/webhooks"
    r = api.signed(BOB, "POST", path, {"url": "http://127.0.0.1:9/hook"})
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = api.signed(ALICE, "POST", path, {"url": "ftp://x"})
    assert r.status_code == 422
    r = api.signed(ALICE, "POST", path, {"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201 and len(r.json()["secret"]) == 64
    r = api.signed(ALICE, "POST", path, {"url": "http://127.0.0.1:9/hook"})
    assert (r.status_code, r.json()["error"]) == (409, "webhook_exists")
