"""Signed requests: signature, nonce replay, expiry, binding to the endpoint, operator-only actions,
and nothing half-written when a request fails."""

from __future__ import annotations

from sqlalchemy import Table, func, select

from offchain.api.signing import canonical_json, payload_hash
from offchain.ledger import schema as t
from tests.api.conftest import ALICE, CAROL, OPERATOR, Api

APPLY = {"name": "Carol Capital", "kind": "hedge_fund", "tier": "tier2", "group": "buy_side"}


def count(api: Api, table: Table) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_application_signed_and_approved_by_operator(api_any: Api) -> None:
    api = api_any
    r = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY)
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["status"] == "pending" and app["address"] == CAROL.address
    # Carol cannot approve herself.
    r = api.signed(CAROL, "POST", f"/v1/membership/applications/{app['id']}/approve", {"account": 12})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = api.signed(OPERATOR, "POST", f"/v1/membership/applications/{app['id']}/approve", {"account": 12})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["account"] == 12
    me = api.client.get("/v1/members/me", headers=api.login(CAROL)).json()
    assert me["account"] == 12 and me["tier"] == "tier2" and me["instruments"] == ["BTC-USD-PERP", "ETH-USD-PERP"]


def test_bad_signature_is_401(api: Api) -> None:
    from offchain.api.signing import sign_request
    from tests.api.conftest import API_DOMAIN

    signed = sign_request(
        ALICE.key, API_DOMAIN, "POST", "/v1/membership/applications", APPLY, 1, api.clock.now // 1000 + 60
    )
    signed["auth"]["signer"] = CAROL.address  # Alice's signature claimed as Carol's
    r = api.client.post("/v1/membership/applications", json=signed)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    signed = sign_request(
        CAROL.key, API_DOMAIN, "POST", "/v1/membership/applications", APPLY, 2, api.clock.now // 1000 + 60
    )
    signed["payload"]["tier"] = "tier1"  # payload changed after signing
    r = api.client.post("/v1/membership/applications", json=signed)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    assert count(api, t.membership_applications) == 0


def test_signature_is_bound_to_the_endpoint(api: Api) -> None:
    from offchain.api.signing import sign_request
    from tests.api.conftest import API_DOMAIN

    # Signed for approving application 1, replayed against application 2.
    signed = sign_request(
        OPERATOR.key,
        API_DOMAIN,
        "POST",
        "/v1/membership/applications/1/reject",
        {"reason": "no"},
        5,
        api.clock.now // 1000 + 60,
    )
    r = api.client.post("/v1/membership/applications/2/reject", json=signed)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"


def test_nonce_replay_is_refused(api: Api) -> None:
    r1 = api.signed(CAROL, "POST", "/v1/auth/login", {"purpose": "login"}, nonce=7)
    assert r1.status_code == 200
    r2 = api.signed(CAROL, "POST", "/v1/auth/login", {"purpose": "login"}, nonce=7)
    assert r2.status_code == 409 and r2.json()["error"] == "nonce_reused"
    # The very same bytes again: also refused.
    from offchain.api.signing import sign_request
    from tests.api.conftest import API_DOMAIN

    body = sign_request(
        CAROL.key, API_DOMAIN, "POST", "/v1/membership/applications", APPLY, 8, api.clock.now // 1000 + 60
    )
    assert api.client.post("/v1/membership/applications", json=body).status_code == 201
    r = api.client.post("/v1/membership/applications", json=body)
    assert r.status_code == 409 and r.json()["error"] in ("nonce_reused", "application_pending")
    assert count(api, t.membership_applications) == 1


def test_expired_and_too_far_expiry(api: Api) -> None:
    now_s = api.clock.now // 1000
    r = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY, expiry=now_s)
    assert r.status_code == 401 and r.json()["error"] == "request_expired"
    r = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY, expiry=now_s + 10 * 86_400)
    assert r.status_code == 401 and r.json()["error"] == "expiry_too_far"
    # Signed in time, delivered late.
    from offchain.api.signing import sign_request
    from tests.api.conftest import API_DOMAIN

    body = sign_request(CAROL.key, API_DOMAIN, "POST", "/v1/membership/applications", APPLY, 99, now_s + 30)
    api.clock.now += 31_000
    r = api.client.post("/v1/membership/applications", json=body)
    assert r.status_code == 401 and r.json()["error"] == "request_expired"
    assert count(api, t.membership_applications) == 0 and count(api, t.api_nonces) == 0


def test_failed_approval_writes_nothing_and_keeps_the_nonce(api_any: Api) -> None:
    api = api_any
    app = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY).json()
    path = f"/v1/membership/applications/{app['id']}/approve"
    r = api.signed(OPERATOR, "POST", path, {"account": 12, "instruments": ["BTC-USD-PERP", "NOPE-PERP"]}, nonce=500)
    assert r.status_code == 422 and r.json()["error"] == "unknown_reference"
    with api.engine.connect() as conn:
        assert conn.execute(select(t.members.c.account).where(t.members.c.account == 12)).first() is None
        assert conn.execute(select(t.membership_applications.c.status)).scalar_one() == "pending"
    # The nonce was not spent: the corrected request may reuse it.
    r = api.signed(OPERATOR, "POST", path, {"account": 12, "instruments": ["BTC-USD-PERP"]}, nonce=500)
    assert r.status_code == 200, r.text


def test_unknown_tier_and_taken_account(api: Api) -> None:
    r = api.signed(CAROL, "POST", "/v1/membership/applications", {**APPLY, "tier": "tier9"})
    assert r.status_code == 422 and r.json()["error"] == "unknown_tier"
    app = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY).json()
    r = api.signed(OPERATOR, "POST", f"/v1/membership/applications/{app['id']}/approve", {"account": 10})
    assert r.status_code == 409 and r.json()["error"] == "already_exists"  # account 10 is Alice's


def test_malformed_bodies_are_4xx(api: Api) -> None:
    bodies: tuple[object, ...] = ({}, {"payload": APPLY}, {"payload": APPLY, "auth": {"signer": "0x12"}}, [], "x")
    for body in bodies:
        r = api.client.post("/v1/membership/applications", json=body)
        assert 400 <= r.status_code < 500 and "error" in r.json(), (body, r.text)
    r = api.client.post(
        "/v1/membership/applications", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_venue_registration_needs_operator_approval(api: Api) -> None:
    from eth_account import Account

    key = Account.from_key("0x" + "44" * 32)
    r = api.signed(key, "POST", "/v1/venues", {"name": "otcZ", "kind": "otc"})
    assert r.status_code == 201 and r.json()["approved"] is False and r.json()["signer"] == key.address
    assert api.signed(key, "POST", "/v1/venues/otcZ/approve", {}).status_code == 403
    r = api.signed(OPERATOR, "POST", "/v1/venues/otcZ/approve", {})
    assert r.status_code == 200 and r.json()["approved"] is True
    r = api.signed(key, "POST", "/v1/venues", {"name": "otcZ", "kind": "otc"})
    assert r.status_code == 409


def test_rate_limit_per_key(tmp_path: object) -> None:
    from tests.api.conftest import make_api

    gen = make_api(f"sqlite:///{tmp_path}/rl.db", burst=3, rate_per_s=0.001)
    api = next(gen)
    codes = [api.client.get("/v1/instruments").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = api.client.get("/v1/instruments")
    assert r.json()["error"] == "rate_limited" and "retry-after" in r.headers
    gen.close()


def test_payload_hash_is_the_same_however_json_spells_an_integer() -> None:
    """`1.0` and `1` are one JSON number (RFC 8785 writes both `1`): the hash a client signed over its own
    spelling is the hash the API checks; a fractional or beyond-2**53 number is refused, never rounded."""
    assert canonical_json({"b": [2.0, {"c": -3.0}], "a": 1}) == b'{"a":1,"b":[2,{"c":-3}]}'
    assert payload_hash({"expiry": 1_700_000_000.0}) == payload_hash({"expiry": 1_700_000_000})
    for bad in (0.5, -1e-9, float(2**53 + 2), float("inf")):
        try:
            canonical_json({"x": [bad]})
        except ValueError as exc:
            assert "integers" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
