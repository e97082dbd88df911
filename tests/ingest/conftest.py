"""A small clearing world for ingest tests, on each ledger backend (the `ledger_url` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, func, insert, select

from offchain.core.eip712 import Domain
from offchain.core.fills import Fill, fills_domain
from offchain.ingest import registry
from offchain.ingest.service import Ingestor
from offchain.ledger.db import open_ledger
from offchain.ledger.schema import fills, marks, rejections

NOW = 1_760_000_000_000
DOMAIN = fills_domain(31337, "0x" + "ab" * 20)
VENUE_KEY: LocalAccount = Account.from_key("0x" + "11" * 32)
OTHER_KEY: LocalAccount = Account.from_key("0x" + "22" * 32)
ALICE, BOB, CAROL, DAVE = (Account.from_key("0x" + f"{n:02x}" * 32).address for n in (0xA1, 0xB2, 0xC3, 0xD4))
STRANGER = Account.from_key("0x" + "ee" * 32).address
BTC_MARK = 60_000 * 10**6  # USDC base units per BTC


@dataclass
class Clock:
    now: int = NOW

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    engine: Engine
    clock: Clock
    ingestor: Ingestor
    domain: Domain = field(default=DOMAIN)

    def fill(self, **overrides: object) -> Fill:
        values: dict[str, object] = {
            "venue": "dexA",
            "venue_fill_id": "f-1",
            "symbol": "BTC-PERP",
            "buyer": ALICE,
            "seller": BOB,
            "qty": 25_000_000,  # 0.25 BTC at 8 decimals
            "price": BTC_MARK + 10 * 10**6,
            "ts": self.clock.now - 1_000,
        }
        values.update(overrides)
        return Fill(**values)  # type: ignore[arg-type]

    def stored(self) -> dict[tuple[str, str], bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(fills.c.venue, fills.c.venue_fill_id, fills.c.leaf))
            return {(r.venue, r.venue_fill_id): bytes(r.leaf) for r in rows}

    def rejection_reasons(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r.reason for r in conn.execute(select(rejections.c.reason).order_by(rejections.c.id))]

    def fill_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(fills)).scalar_one())


def sign(fill: Fill, key: LocalAccount = VENUE_KEY) -> bytes:
    return bytes(Account.unsafe_sign_hash(fill.digest(DOMAIN), key.key).signature)


def populate(engine: Engine) -> None:
    """dexA (approved, VENUE_KEY), cexB (registered, not approved, OTHER_KEY); BTC-USD-PERP with a
    mark, ETH-USD-PERP without one, OLD-USD-PERP inactive; alice and bob may trade all three, carol
    nothing, dave is close_only."""
    with engine.begin() as conn:
        registry.register_venue(conn, "dexA", VENUE_KEY.address, "dex", created_ms=NOW)
        registry.approve_venue(conn, "dexA")
        registry.register_venue(conn, "cexB", OTHER_KEY.address, "cex", created_ms=NOW)
        for name, underlying, active in (
            ("BTC-USD-PERP", "BTC", True),
            ("ETH-USD-PERP", "ETH", True),
            ("OLD-USD-PERP", "OLD", False),
        ):
            registry.add_instrument(conn, name, "perp", underlying, 8, 500, 2_000, 60_000, 1, active=active)
        for venue in ("dexA", "cexB"):
            registry.map_symbol(conn, venue, "BTC-PERP", "BTC-USD-PERP")
        registry.map_symbol(conn, "dexA", "ETH-PERP", "ETH-USD-PERP")
        registry.map_symbol(conn, "dexA", "OLD-PERP", "OLD-USD-PERP")
        for account, address, name in ((1, ALICE, "alice"), (2, BOB, "bob"), (3, CAROL, "carol"), (4, DAVE, "dave")):
            registry.admit_member(conn, account, address, name, "market_maker", "A", "mm", created_ms=NOW)
        for account in (1, 2, 4):
            for instrument in ("BTC-USD-PERP", "ETH-USD-PERP", "OLD-USD-PERP"):
                registry.grant(conn, account, instrument)
        registry.set_member_status(conn, 4, "close_only")
        conn.execute(insert(marks).values(instrument="BTC-USD-PERP", price=BTC_MARK, ts_ms=NOW - 2_000, source="t"))


@pytest.fixture
def world(ledger_url: str) -> Iterator[World]:
    engine = open_ledger(ledger_url)
    populate(engine)
    clock = Clock()
    yield World(engine, clock, Ingestor(engine, DOMAIN, clock=clock))
    engine.dispose()
