"""The API says what it does: one error shape, every status a route can answer listed in its OpenAPI
operation, the bulk limit the same in the schema and the handler, the marks the price band uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from offchain.ledger import schema as t
from tests.api.conftest import BTC_MARK, NOW_MS, Api, fill_json, make_api


def test_every_error_has_one_shape(api: Api) -> None:
    bodies = [
        api.client.post("/v1/venues/dexA/fills", json={"fill": {}, "signature": "0x"}).json(),  # 422, field errors
        api.client.get("/v1/batches/99").json(),  # 404
        api.client.get("/v1/nope").json(),  # starlette's 404
        api.client.get("/v1/members/me").json(),  # 401
        api.client.post("/v1/auth/login", content=b"[" * 100, headers={"content-type": "application/json"}).json(),
    ]
    for body in bodies:
        assert set(body) == {"error", "detail", "errors", "bid_id"}, body
        assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    invalid = bodies[0]
    assert invalid["error"] == "invalid_request" and invalid["errors"]
    assert all(set(e) == {"loc", "msg", "type"} for e in invalid["errors"])
    assert all(b["errors"] == [] for b in bodies[1:])


def test_openapi_lists_the_statuses_and_the_bulk_limit(api: Api) -> None:
    from fastapi.routing import APIRoute

    from offchain.api.deps import session, signed

    schema = api.client.get("/v1/openapi.json").json()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert {"400", "413", "422", "429"} <= set(op["responses"]), (method, path)
    # A route that authenticates (a session or a signed request) can answer 401, and says so.
    for route in api.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and _calls(route.dependant, {session, signed}):
            for method in route.methods or ():
                assert "401" in schema["paths"][route.path][method.lower()]["responses"], (method, route.path)
    bulk = schema["components"]["schemas"]["BulkFills"]["properties"]["fills"]
    assert bulk["maxItems"] == 1_000
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "detail"} and error["properties"]["detail"]["type"] == "string"


def test_the_bulk_limit_is_413_and_nothing_is_stored(tmp_path: Any) -> None:
    for api in make_api(f"sqlite:///{tmp_path / 'b.db'}", max_bulk=5):
        assert (
            api.client.get("/v1/openapi.json").json()["components"]["schemas"]["BulkFills"]["properties"]["fills"][
                "maxItems"
            ]
            == 5
        )
        r = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(6)]})
        assert (r.status_code, r.json()["error"]) == (413, "bulk_too_large")
        r = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(5)]})
        assert r.status_code == 200 and len(r.json()) == 5


def test_current_marks_and_index_prices_with_the_band(api: Api) -> None:
    with api.engine.begin() as conn:
        conn.execute(insert(t.marks).values(instrument="ETH", price=3_000 * 10**6, ts_ms=NOW_MS - 1, source="index"))
        conn.execute(
            insert(t.marks).values(instrument="ETH-USD-PERP", price=3_100 * 10**6, ts_ms=NOW_MS - 90_000, source="feed")
        )
    marks = {m["name"]: m for m in api.client.get("/v1/marks").json()}
    btc = marks["BTC-USD-PERP"]
    width = BTC_MARK * 500 // 10_000
    assert (btc["kind"], btc["price"], btc["price_band_bps"], btc["stale"]) == ("mark", str(BTC_MARK), 500, False)
    assert (btc["band_low"], btc["band_high"], btc["source"]) == (str(BTC_MARK - width), str(BTC_MARK + width), "t")
    # 90 s old, the instrument allows 60 s: the index halts, so there is no price and no band, and it says why.
    eth_perp = marks["ETH-USD-PERP"]
    assert (eth_perp["stale"], eth_perp["price"], eth_perp["ts_ms"], eth_perp["halt"]) == (True, None, None, "stale")
    assert (eth_perp["band_low"], eth_perp["band_high"], eth_perp["source"]) == (None, None, "")
    assert "feed" in eth_perp["detail"]
    assert btc["halt"] is None and btc["detail"] is None
    assert marks["ETH"] == {
        "name": "ETH",
        "kind": "index",
        "price": str(3_000 * 10**6),
        "ts_ms": NOW_MS - 1,
        "source": "index",
        "price_band_bps": None,
        "band_low": None,
        "band_high": None,
        "stale": None,
        "halt": None,
        "detail": None,
    }
    # A fill on the band edge is accepted, one unit beyond it refused: the route tells the truth.
    edge = fill_json(api.fill(1, price=int(btc["band_high"])))
    beyond = fill_json(api.fill(2, price=int(btc["band_high"]) + 1))
    acks = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [edge, beyond]}).json()
    assert [a["reason"] for a in acks] == [None, "PRICE_OUT_OF_BAND"]


def _calls(dependant: Any, targets: set[Any]) -> bool:
    return dependant.call in targets or any(_calls(d, targets) for d in dependant.dependencies)
