"""The API attacked as a hostile outsider would: each attack gets its 4xx (or only a bounded counter moves)
and nothing is stored. Races run on SQLite and PostgreSQL with concurrent identical requests."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Table, func, select

from offchain.api.bodyguard import deeper_than, json_depth
from offchain.api.signing import sign_request
from offchain.ledger import schema as t
from tests.api.conftest import (
    ALICE,
    ALICE_ACCOUNT,
    API_DOMAIN,
    BOB,
    CAROL,
    OPERATOR,
    VENUE,
    Api,
    fill_json,
    make_api,
    sub_account_payload,
)

APPLY = {"name": "Carol Capital", "kind": "hedge_fund", "tier": "tier2", "group": "buy_side"}


def count(api: Api, table: Table, *where: Any) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def concurrently(n: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`send(i)` for i in 0..n-1 from n threads released together (a barrier), so the requests race."""
    barrier = threading.Barrier(n)

    def run(i: int) -> httpx.Response:
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def client_from(api: Api, host: str) -> TestClient:
    """Another client of the same app, seen by it as coming from `host`."""
    return TestClient(api.client.app, client=(host, 40_000))


@pytest.fixture
def limited(tmp_path: Any) -> Iterator[Api]:
    yield from make_api(
        f"sqlite:///{tmp_path / 'rl.db'}",
        burst=3,
        rate_per_s=0.001,
        ip_burst=8,
        ip_rate_per_s=0.001,
        fill_burst=10,
        fill_rate_per_s=0.001,
    )


# ---------------------------------------------------------------- bodies


def test_depth_scan_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'["\\"[[[[", [[]]]') == 3
    assert json_depth(b'["a\\\\", [[]], "[["]') == 3  # an escaped backslash ends its string
    assert json_depth(b"42") == 0
    assert json_depth(b"[" * 70_000) == 70_000


def test_the_bracket_count_shortcut_decides_as_the_depth_scan() -> None:
    bodies = [b'{"a": [1, {"b": "[[[[{{{{"}]}', b'["\\"[[[[", [[]]]', b"[" * 70_000, b"[[[]]]", b"[[][][]]", b"{}"]
    bodies.append(b"7")
    for body in bodies:
        for limit in range(5):
            assert deeper_than(body, limit) is (json_depth(body) > limit), (body[:20], limit)
    assert deeper_than(b"[" * 65, 64) and not deeper_than(b"[" * 64, 64)


def test_deep_and_huge_bodies_are_refused_before_parsing(api: Api) -> None:
    assert sys.getrecursionlimit() == 1_000  # create_app undid py_ecc's 100,000
    deep = b"[" * 70_000 + b"]" * 70_000
    for path in ("/v1/auth/login", "/v1/venues/dexA/fills/bulk", "/v1/membership/applications"):
        r = api.client.post(path, content=deep, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (400, "too_deep"), path
    huge = b'{"fills": [' + b'"x",' * 600_000 + b'"x"]}'
    r = api.client.post("/v1/venues/dexA/fills/bulk", content=huge, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    assert count(api, t.api_nonces) == 0 and count(api, t.fills) == 0
    assert api.client.get("/v1/health").status_code == 200


# ---------------------------------------------------------------- rate limits before and after authentication


def test_forged_requests_in_a_victims_name_do_not_drain_the_victims_bucket(limited: Api) -> None:
    api = limited
    attacker = client_from(api, "10.0.0.66")
    forged = sign_request(CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", {"purpose": "login"}, 1, 10**10)
    forged["auth"]["signer"] = ALICE.address
    forged["auth"]["expiry"] = api.clock.now // 1000 + 60
    codes = [attacker.post("/v1/auth/login", json=forged).status_code for _ in range(12)]
    assert codes[:8] == [401] * 8 and codes[8:] == [429] * 4  # the attacker's own address runs dry
    # Alice, from her own address, still has her whole bucket (burst 3).
    for _ in range(3):
        assert api.login(ALICE)
    r = api.signed(ALICE, "POST", "/v1/auth/login", {"purpose": "login"})
    assert (r.status_code, r.json()["error"]) == (429, "rate_limited")
    assert count(api, t.api_nonces) == 3  # Alice's logins only


def test_forged_fills_do_not_drain_the_venues_bucket(limited: Api) -> None:
    api = limited
    attacker = client_from(api, "10.0.0.66")
    forged = [fill_json(api.fill(n), key=CAROL) for n in range(100, 108)]
    acks = attacker.post("/v1/venues/dexA/fills/bulk", json={"fills": forged}).json()
    assert {a["reason"] for a in acks} == {"WRONG_SIGNER"}
    # The venue's own bucket (10) is whole: its ten real fills are all taken.
    real = [fill_json(api.fill(n)) for n in range(10)]
    acks = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": real}).json()
    assert [a["status"] for a in acks] == ["accepted"] * 10
    r = api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(11)))
    assert (r.status_code, r.json()["error"]) == (429, "rate_limited")


# ---------------------------------------------------------------- nothing written for the unauthenticated


def test_forged_fills_leave_no_rows_only_a_counter(api_any: Api) -> None:
    api = api_any
    forged = [fill_json(api.fill(n), key=CAROL) for n in range(300)]
    forged += [{**fill_json(api.fill(1_000 + n)), "signature": "0x" + "00" * 65} for n in range(200)]
    acks = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": forged}).json()
    assert [a["reason"] for a in acks] == ["WRONG_SIGNER"] * 300 + ["BAD_SIGNATURE"] * 200
    assert count(api, t.rejections) == 0 and count(api, t.fills) == 0
    refused = api.client.get("/v1/health").json()["refused_unauthenticated"]
    assert refused == {"BAD_SIGNATURE": 200, "WRONG_SIGNER": 300}
    # An authentic fill that is refused on its terms is recorded: the venue's own rate limit bounds those.
    ack = api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(1, symbol="NOPE"))).json()
    assert ack["reason"] == "UNKNOWN_SYMBOL" and count(api, t.rejections) == 1


def test_bad_logins_write_nothing_and_are_counted(api: Api) -> None:
    body = sign_request(CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", {"purpose": "login"}, 5, 10**9)
    body["auth"]["expiry"] = api.clock.now // 1000 + 60  # the signature no longer matches
    assert api.client.post("/v1/auth/login", json=body).status_code == 401
    r = api.signed(CAROL, "POST", "/v1/auth/login", {"purpose": "login"}, expiry=api.clock.now // 1000 - 1)
    assert r.json()["error"] == "request_expired"
    assert api.client.get("/v1/members/me", headers={"Authorization": "Bearer cc1.forged.x"}).status_code == 401
    assert count(api, t.api_nonces) == 0
    assert api.client.get("/v1/health").json()["refused_unauthenticated"] == {
        "bad_signature": 1,
        "request_expired": 1,
        "session_invalid": 1,
    }


# ---------------------------------------------------------------- sub-accounts


def test_a_sub_account_needs_its_own_keys_consent(api_any: Api) -> None:
    api = api_any
    victim = Account.from_key("0x" + "5c" * 32)
    path = f"/v1/members/{ALICE_ACCOUNT}/sub-accounts"
    expiry = api.clock.now // 1000 + 600
    # Alice claims the victim's address: with her own signature as "consent", with none, for another parent.
    own = sub_account_payload(ALICE, ALICE_ACCOUNT, "x", expiry)
    own["address"] = victim.address
    r = api.signed(ALICE, "POST", path, own)
    assert (r.status_code, r.json()["error"]) == (401, "bad_consent")
    r = api.signed(ALICE, "POST", path, {"address": victim.address, "label": "x"})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request")
    r = api.signed(ALICE, "POST", path, sub_account_payload(victim, 11, "x", expiry))
    assert (r.status_code, r.json()["error"]) == (401, "bad_consent")
    r = api.signed(ALICE, "POST", path, sub_account_payload(victim, ALICE_ACCOUNT, "x", api.clock.now // 1000))
    assert (r.status_code, r.json()["error"]) == (401, "consent_request_expired")
    assert count(api, t.membership_applications) == 0 and count(api, t.api_nonces) == 0
    # The victim's own application is not blocked.
    r = api.signed(victim, "POST", "/v1/membership/applications", APPLY)
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------- races: 409, never 500


def test_the_same_signed_request_sent_eight_times_at_once_succeeds_once(api_any: Api) -> None:
    api = api_any
    body = sign_request(
        CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", {"purpose": "login"}, 77, api.clock.now // 1000 + 60
    )
    codes = sorted(r.status_code for r in concurrently(8, lambda _: api.client.post("/v1/auth/login", json=body)))
    assert codes == [200] + [409] * 7
    assert count(api, t.api_nonces) == 1


def test_concurrent_registrations_of_one_venue_name(api_any: Api) -> None:
    api = api_any
    keys = [Account.from_key(bytes([0x60 + i]) * 32) for i in range(6)]
    rs = concurrently(6, lambda i: api.signed(keys[i], "POST", "/v1/venues", {"name": "otcZ", "kind": "otc"}))
    assert sorted(r.status_code for r in rs) == [201] + [409] * 5, [r.text for r in rs]
    assert {r.json()["error"] for r in rs if r.status_code == 409} == {"already_exists"}
    assert count(api, t.venues, t.venues.c.name == "otcZ") == 1


def test_concurrent_applications_leave_one_pending_row(api_any: Api) -> None:
    api = api_any
    expiry = api.clock.now // 1000 + 60
    path = "/v1/membership/applications"
    bodies = [sign_request(CAROL.key, API_DOMAIN, "POST", path, APPLY, 1_000 + i, expiry) for i in range(6)]
    rs = concurrently(6, lambda i: api.client.post("/v1/membership/applications", json=bodies[i]))
    assert sorted(r.status_code for r in rs) == [201] + [409] * 5, [r.text for r in rs]
    assert {r.json()["error"] for r in rs if r.status_code == 409} == {"application_pending"}
    assert count(api, t.membership_applications) == 1 and count(api, t.api_nonces) == 1


def test_a_concurrent_approval_and_rejection_cannot_both_win(api_any: Api) -> None:
    api = api_any
    app_id = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY).json()["id"]
    base = f"/v1/membership/applications/{app_id}"

    def decide(i: int) -> httpx.Response:
        if i % 2:
            r: httpx.Response = api.signed(OPERATOR, "POST", base + "/reject", {"reason": "no"})
        else:
            r = api.signed(OPERATOR, "POST", base + "/approve", {"account": 30 + i})
        return r

    rs = concurrently(4, decide)
    assert sorted(r.status_code for r in rs) == [200, 409, 409, 409], [r.text for r in rs]
    (winner,) = [r.json() for r in rs if r.status_code == 200]
    members_now = count(api, t.members, t.members.c.address == CAROL.address)
    assert members_now == (1 if winner["status"] == "approved" else 0)


# ---------------------------------------------------------------- sessions: logout and revocation


def test_logout_and_revoking_every_session(api_any: Api) -> None:
    api = api_any
    first, second = api.login(ALICE), api.login(ALICE)
    assert api.client.post("/v1/auth/logout", headers=first).json()["revoked"] == "this_session"
    r = api.client.get("/v1/members/me", headers=first)
    assert (r.status_code, r.json()["error"]) == (401, "session_revoked")
    assert api.client.get("/v1/members/me", headers=second).status_code == 200
    r = api.signed(ALICE, "POST", "/v1/auth/revoke", {"purpose": "revoke_sessions"})
    assert r.status_code == 200 and r.json()["generation"] == 1
    assert api.client.get("/v1/members/me", headers=second).json()["error"] == "session_revoked"
    third = api.login(ALICE)
    assert api.client.get("/v1/members/me", headers=third).status_code == 200
    assert api.client.get("/v1/members/me", headers=api.login(BOB)).status_code == 200  # others unaffected


# ---------------------------------------------------------------- EIP-55


def test_mixed_case_addresses_must_be_eip55(api: Api) -> None:
    i = next(i for i, c in enumerate(CAROL.address[2:], 2) if c.isalpha())  # one letter's case flipped
    wrong = CAROL.address[:i] + CAROL.address[i].swapcase() + CAROL.address[i + 1 :]
    body = sign_request(
        CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", {"purpose": "login"}, 9, api.clock.now // 1000 + 60
    )
    body["auth"]["signer"] = wrong
    r = api.client.post("/v1/auth/login", json=body)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request") and "EIP-55" in r.text
    body["auth"]["signer"] = CAROL.address.lower()  # no checksum claimed: accepted
    assert api.client.post("/v1/auth/login", json=body).status_code == 200
    bad_fill = fill_json(api.fill(1))
    bad_fill["fill"]["buyer"] = wrong
    r = api.client.post("/v1/venues/dexA/fills", json=bad_fill)
    assert r.status_code == 422 and count(api, t.fills) == 0


# ---------------------------------------------------------------- each fill of a bulk on its own


def test_a_zero_qty_fill_does_not_fail_its_bulk(api_any: Api) -> None:
    api = api_any
    from offchain.core.fills import Fill

    def raw(n: int, **kw: Any) -> dict[str, Any]:
        return fill_json(Fill.model_construct(**{**api.fill(n).model_dump(), **kw}))

    bulk = [fill_json(api.fill(n)) for n in range(8)]
    bulk.insert(3, raw(100, qty=0))
    bulk.insert(5, raw(101, price=0))
    huge = fill_json(api.fill(102))
    huge["fill"]["qty"] = str(2**128)
    bulk.append(huge)
    r = api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": bulk})
    assert r.status_code == 200, r.text
    reasons = [(a["venue_fill_id"], a["reason"]) for a in r.json() if a["status"] == "rejected"]
    assert reasons == [("f-100", "BAD_QTY"), ("f-101", "BAD_PRICE"), ("f-102", "BAD_QTY")]
    assert count(api, t.fills) == 8
    assert count(api, t.rejections) == 2  # the two authenticated refusals; the unsignable one is only counted


# ---------------------------------------------------------------- the relayer


def test_the_relayer_may_not_be_the_operator_key() -> None:
    from offchain.api.config import ApiSettings

    with pytest.raises(ValueError, match="key of its own"):
        ApiSettings(operator_address=OPERATOR.address, relayer_key=SecretStr("0x" + "0f" * 32))
    ApiSettings(operator_address=OPERATOR.address, relayer_key=SecretStr("0x" + "0e" * 32))


def test_serve_devnet_relays_with_a_key_of_its_own(tmp_path: Any) -> None:
    from offchain.cli.main import build_parser
    from offchain.cli.serve_command import settings_from_args
    from offchain.devnet.spec import DevnetSpec

    spec = DevnetSpec(
        rpc_url="http://127.0.0.1:1",
        chain_id=31337,
        vault="0x" + "ab" * 20,
        tokens={},
        assets={},
        operator_key="0x" + "0f" * 32,
        signer_keys=[],
        threshold=1,
        members=[],
        venues=[],
        instruments=[],
        collateral=[],
        risk_asof="2026-01-01",
    )
    path = tmp_path / "devnet.json"
    spec.save(path)
    mp = pytest.MonkeyPatch()
    mp.delenv("CROSSCLEAR_API_RELAYER_KEY", raising=False)
    try:
        s = settings_from_args(build_parser().parse_args(["serve", "--devnet", str(path)]))
    finally:
        mp.undo()
    assert s.relayer_key is not None
    relayer = Account.from_key(s.relayer_key.get_secret_value()).address
    assert relayer != OPERATOR.address and relayer != VENUE.address


# ---------------------------------------------------------------- a slow or dead RPC


class Blackhole:
    """A TCP server that accepts connections and never answers: the slowest RPC there is."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[Any] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def test_a_call_queued_before_the_breaker_opened_does_not_reach_the_rpc() -> None:
    """A caller that passed the breaker while it was closed and then queued for a slot must not take the
    slot that the failure opening the breaker frees (it would be one more call to a dead RPC)."""
    from offchain.api.chain import CircuitBreaker, GuardedChain
    from offchain.api.errors import ApiError

    passed = threading.Event()

    class SeenBreaker(CircuitBreaker):
        def allow(self) -> float | None:
            wait = super().allow()
            if wait is None and threading.current_thread().name == "queued":
                passed.set()
            return wait

    release_first = threading.Event()
    reached: list[str] = []

    def hanging_call() -> int:
        reached.append("first")
        release_first.wait(10)
        raise ApiError(424, "chain_unavailable", "timed out")

    guard = GuardedChain(None, SeenBreaker(failures=1, open_s=60), max_concurrent=1, queue_s=10)  # type: ignore[arg-type]
    errors: dict[str, ApiError] = {}

    def run(name: str, fn: Callable[[], int]) -> None:
        try:
            guard._call(fn)
        except ApiError as exc:
            errors[name] = exc

    first = threading.Thread(target=run, args=("first", hanging_call))
    first.start()
    while not reached:
        threading.Event().wait(0.005)

    def queued_call() -> int:
        reached.append("queued")
        return 1

    queued = threading.Thread(target=run, args=("queued", queued_call), name="queued")
    queued.start()
    assert passed.wait(10)  # the breaker was closed when it asked; it now waits for the one slot
    release_first.set()  # the first call fails: the breaker opens and the slot is freed
    first.join(10)
    queued.join(10)
    assert reached == ["first"]
    assert errors["queued"].code == "chain_unavailable" and "in a row" in str(errors["queued"].detail)
    assert guard.breaker.state == "open"
    assert guard._slots.acquire(timeout=0)  # the refused caller gave its slot back


def test_a_dead_rpc_costs_bounded_time_then_nothing_and_health_answers(tmp_path: Any) -> None:
    import time

    from web3 import HTTPProvider, Web3

    from offchain.api import create_app
    from offchain.api.chain import Web3Chain
    from offchain.chain.vault import VaultClient
    from offchain.ledger.db import open_ledger
    from tests.api.conftest import Clock, populate, settings

    hole = Blackhole()
    try:
        rpc_timeout_s = 10.0
        w3 = Web3(HTTPProvider(hole.url, request_kwargs={"timeout": rpc_timeout_s}, exception_retry_configuration=None))
        url = f"sqlite:///{tmp_path / 'api.db'}"
        engine = open_ledger(url)
        populate(engine)
        app = create_app(
            settings(url, breaker_failures=2, breaker_open_s=60, chain_max_concurrent=2, chain_queue_s=0.2),
            engine=engine,
            clock=Clock(),
            chain=Web3Chain(VaultClient(w3, "0x" + "ab" * 20), None),
        )
        with TestClient(app) as client:

            def bad_login(i: int) -> httpx.Response:
                body = sign_request(CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", {"purpose": "login"}, i, 10**10)
                body["auth"]["expiry"] = Clock().now // 1000 + 60  # the signature no longer recovers to Carol
                r: httpx.Response = client.post("/v1/auth/login", json=body)
                return r

            pool = ThreadPoolExecutor(48)
            logins = [pool.submit(bad_login, i) for i in range(48)]
            while len(hole.held) < 2:  # the two calls the chain limit lets through are hanging on the RPC
                time.sleep(0.01)
            health = client.get("/v1/health")
            # Health answered while logins still hung on the RPC: it waits on neither the chain nor them.
            # (Not a timing bound: the hanging calls end only at the RPC timeout, 10 s away.)
            assert health.status_code == 200
            assert any(not f.done() for f in logins), "health waited for the logins hanging on the RPC"
            results = [f.result() for f in logins]
            pool.shutdown()
            assert {(r.status_code, r.json()["error"]) for r in results} == {(424, "chain_unavailable")}
            # 48 bad logins cost the RPC at most chain_max_concurrent + breaker_failures - 1 = 3 hanging
            # calls; everything else is refused without touching it (the old path waited 30 s, five times,
            # per bad login). Two calls hang at once (the chain limit); when the first times out, its slot is
            # free while the breaker has seen one failure of the two that open it, so one late login (a busy
            # machine) can take that slot before the second failure opens the breaker; after that, none.
            # The blackhole counts every connection made to it.
            calls = len(hole.held)
            assert 2 <= calls <= 2 + 2 - 1, calls
            assert client.get("/v1/health").json()["chain_state"] == "open"
            assert client.get("/v1/instruments").status_code == 200
            assert len(hole.held) == calls  # neither health nor a ledger read touches the RPC
            with engine.connect() as conn:
                assert conn.execute(select(func.count()).select_from(t.api_nonces)).scalar_one() == 0
        engine.dispose()
    finally:
        hole.close()


def test_crossclear_serve_survives_a_70000_deep_body(tmp_path: Any) -> None:
    """The original attack against the real command: one unauthenticated 140 KB body crashed the process."""
    import os
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli.main", "serve", "--db", db, "--port", str(port)],
        env={**os.environ, "CROSSCLEAR_API_SESSION_SECRET": "s" * 32},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        deep = b"[" * 70_000 + b"]" * 70_000
        for path in ("/v1/auth/login", "/v1/venues/x/fills/bulk"):
            r = httpx.post(base + path, content=deep, headers={"content-type": "application/json"}, timeout=10)
            assert (r.status_code, r.json()["error"]) == (400, "too_deep")
        assert httpx.get(base + "/v1/health", timeout=5).status_code == 200
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
