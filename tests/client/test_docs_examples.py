"""The examples in docs/venues.md and docs/members.md run as written, against a devnet behind the API as
`crossclear serve --devnet` builds it (tests/client/conftest.py), and what they did is checked against
the ledger and the chain; and that API applies the risk engine's position limits to every fill."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from offchain.client import CrossclearClient
from offchain.core.fills import Fill
from offchain.ledger import schema as t
from tests.client.conftest import LiveDevnet

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _example(doc: str) -> str:
    (code,) = re.findall(r"```python\n(.*?)```", (DOCS / doc).read_text(), re.DOTALL)
    return str(code)


def test_the_venue_example_signs_and_sends_a_fill(devnet_server: LiveDevnet) -> None:
    d = devnet_server.devnet
    venue = next(v for v in d.spec.venues if v.name == "dex-perp")
    buyer, seller = d.member("Alpha Market Making"), d.member("Macro Fund")
    namespace: dict[str, Any] = {
        "BASE_URL": devnet_server.base_url,
        "VENUE": venue.name,
        "VENUE_KEY": venue.key,
        "BUYER": buyer.address,
        "SELLER": seller.address,
    }
    exec(compile(_example("venues.md"), "docs/venues.md", "exec"), namespace)
    with d.db.connect() as conn:
        stored = conn.execute(
            select(t.fills.c.instrument, t.fills.c.qty, t.fills.c.buyer, t.fills.c.seller).where(
                t.fills.c.venue == venue.name, t.fills.c.venue_fill_id == "doc-fill-1"
            )
        ).one()
    assert (stored.instrument, int(stored.qty), stored.buyer, stored.seller) == (
        "BTC-USD-PERP",
        25_000_000,
        buyer.account,
        seller.account,
    )


def test_the_member_example_logs_in_reads_margin_and_withdraws(devnet_server: LiveDevnet) -> None:
    d = devnet_server.devnet
    me, other = d.member("Macro Fund"), d.member("Alpha Market Making")
    namespace: dict[str, Any] = {
        "BASE_URL": devnet_server.base_url,
        "MY_KEY": me.key,
        "ME": me.address,
        "MY_ACCOUNT": me.account,
        "OTHER_ACCOUNT": other.account,
        "VAULT_NONCE": devnet_server.withdrawal_nonce(me.address),
        "CHAIN_NOW": devnet_server.chain_now(),
    }
    exec(compile(_example("members.md"), "docs/members.md", "exec"), namespace)
    on_chain = d.vault.withdrawal(namespace["withdrawal"]["id"])
    assert (on_chain.account, on_chain.asset, on_chain.amount, on_chain.status) == (
        me.account,
        0,
        1_000 * 10**6,
        "pending",
    )
    assert devnet_server.withdrawal_nonce(me.address) == namespace["VAULT_NONCE"] + 1


def test_the_api_refuses_a_fill_beyond_the_members_position_limit(devnet_server: LiveDevnet) -> None:
    """`crossclear serve --devnet` checks every fill against the risk engine's position limits (the tier
    table and the instrument's depth): a fill that would take a member beyond its limit is refused by name,
    and nothing is stored for it; a fill within the limit passes."""
    d = devnet_server.devnet
    venue = next(v for v in d.spec.venues if v.name == "dex-perp")
    buyer, seller = d.member("Alpha Market Making"), d.member("Macro Fund")
    client = CrossclearClient(devnet_server.base_url)

    def fill(fid: str, qty: int) -> Fill:
        return Fill(
            venue=venue.name,
            venue_fill_id=fid,
            symbol="BTC-PERP",
            buyer=buyer.address,
            seller=seller.address,
            qty=qty,
            price=60_000 * 10**6,
            ts=d.now_ms() - 1_000,
        )

    huge = client.submit_fill(venue.key, fill("limit-huge", 10**6 * 10**8))  # a million BTC
    assert (huge.status, huge.reason) == ("rejected", "POSITION_LIMIT"), huge
    assert client.submit_fill(venue.key, fill("limit-small", 10**6)).status == "accepted"  # 0.01 BTC
    with d.db.connect() as conn:
        stored = set(conn.execute(select(t.fills.c.venue_fill_id).where(t.fills.c.venue == venue.name)).scalars())
    assert "limit-huge" not in stored and "limit-small" in stored
