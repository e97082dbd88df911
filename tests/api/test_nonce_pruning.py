"""Spent API nonces are pruned once their requests have expired (plus a grace), lazily, at most once per
interval; a pruned nonce still cannot be replayed, because its request is expired."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from offchain.api.signing import prune_nonces, sign_request
from offchain.ledger import schema as t
from tests.api.conftest import API_DOMAIN, CAROL, Api, make_api

LOGIN = {"purpose": "login"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(f"sqlite:///{tmp_path / 'api.db'}", nonce_prune_interval_s=60, nonce_prune_grace_s=30)


def nonces(api: Api) -> list[str]:
    with api.engine.connect() as conn:
        return sorted(conn.execute(select(t.api_nonces.c.nonce)).scalars())


def test_expired_nonces_are_pruned_lazily_and_stay_unreplayable(api: Api) -> None:
    now_s = api.clock.now // 1000
    old = sign_request(CAROL.key, API_DOMAIN, "POST", "/v1/auth/login", LOGIN, 1, now_s + 20)
    assert api.client.post("/v1/auth/login", json=old).status_code == 200  # prunes (first), then spends 1
    assert api.signed(CAROL, "POST", "/v1/auth/login", LOGIN, nonce=2, expiry=now_s + 3000).status_code == 200
    assert nonces(api) == ["1", "2"]

    # Nonce 1's request expired 20 s from now; with 30 s grace it is prunable after 50 s, and the
    # interval (60 s) must pass since the last pruning.
    api.clock.now += 55_000
    assert api.signed(CAROL, "POST", "/v1/auth/login", LOGIN, nonce=3).status_code == 200
    assert nonces(api) == ["1", "2", "3"]  # not due yet: pruned at t=0, interval 60 s
    api.clock.now += 10_000
    assert api.signed(CAROL, "POST", "/v1/auth/login", LOGIN, nonce=4).status_code == 200
    assert nonces(api) == ["2", "3", "4"]  # 1 is gone; 2-4 have not expired

    # The pruned nonce's request replayed: refused as expired, and nothing is stored.
    r = api.client.post("/v1/auth/login", json=old)
    assert r.status_code == 401 and r.json()["error"] == "request_expired"
    assert nonces(api) == ["2", "3", "4"]


def test_prune_nonces_deletes_only_before_the_cutoff(api: Api) -> None:
    for n in (1, 2, 3):
        r = api.signed(CAROL, "POST", "/v1/auth/login", LOGIN, nonce=n, expiry=api.clock.now // 1000 + 100 * n)
        assert r.status_code == 200
    cutoff = (api.clock.now // 1000 + 250) * 1000
    with api.engine.begin() as conn:
        assert prune_nonces(conn, cutoff) == 2
    assert nonces(api) == ["3"]
