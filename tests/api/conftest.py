"""An API over a real ledger (SQLite, and PostgreSQL where cheap), with a settable clock."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update

from offchain.api import ApiSettings, create_app
from offchain.api.signing import SubAccountConsent, api_domain, sign_request
from offchain.core.batch import Batch
from offchain.core.fills import Fill, fills_domain
from offchain.core.merkle import root_of
from offchain.ingest import registry
from offchain.ledger import schema as t
from offchain.ledger.batches import BatchPayload, MarginDetail
from offchain.ledger.db import open_ledger
from offchain.ledger.entries import apply_batch_fills

NOW_MS = 1_760_000_000_000
CHAIN_ID = 31337
VAULT = "0x" + "ab" * 20
API_DOMAIN = api_domain(CHAIN_ID, VAULT)
FILLS_DOMAIN = fills_domain(CHAIN_ID, VAULT)
BTC_MARK = 60_000 * 10**6

OPERATOR: LocalAccount = Account.from_key("0x" + "0f" * 32)
VENUE: LocalAccount = Account.from_key("0x" + "11" * 32)
ALICE: LocalAccount = Account.from_key("0x" + "a1" * 32)
BOB: LocalAccount = Account.from_key("0x" + "b2" * 32)
CAROL: LocalAccount = Account.from_key("0x" + "c3" * 32)  # not a member
ALICE_ACCOUNT, BOB_ACCOUNT = 10, 11


@dataclass
class Clock:
    now: int = NOW_MS

    def __call__(self) -> int:
        return self.now


@dataclass
class Api:
    client: TestClient
    engine: Engine
    clock: Clock
    nonces: Any = field(default_factory=lambda: count(1))

    def signed(
        self,
        key: LocalAccount,
        method: str,
        path: str,
        payload: Any,
        *,
        nonce: int | None = None,
        expiry: int | None = None,
        signer: str | None = None,
    ) -> Any:
        body = sign_request(
            key.key,
            API_DOMAIN,
            method,
            path,
            payload,
            nonce=next(self.nonces) if nonce is None else nonce,
            expiry=self.clock.now // 1000 + 600 if expiry is None else expiry,
            signer=signer,
        )
        return self.client.request(method, path, json=body)

    def login(self, key: LocalAccount) -> dict[str, str]:
        r = self.signed(key, "POST", "/v1/auth/login", {"purpose": "login"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def fill(self, n: int, **kw: Any) -> Fill:
        values: dict[str, Any] = {
            "venue": "dexA",
            "venue_fill_id": f"f-{n}",
            "symbol": "BTC-PERP",
            "buyer": ALICE.address,
            "seller": BOB.address,
            "qty": 10_000_000,
            "price": BTC_MARK,
            "ts": self.clock.now - 1_000,
        }
        values.update(kw)
        return Fill(**values)


def sub_account_payload(sub: LocalAccount, parent: int, label: str, expiry_s: int) -> dict[str, Any]:
    """The payload of `POST /v1/members/{parent}/sub-accounts`, with the sub-account key's own consent."""
    consent = SubAccountConsent(parent, sub.address, label, expiry_s)
    sig = Account.unsafe_sign_hash(consent.digest(API_DOMAIN), sub.key).signature
    return {"address": sub.address, "label": label, "consent": {"expiry": expiry_s, "signature": "0x" + sig.hex()}}


def sign_fill(fill: Fill, key: LocalAccount = VENUE) -> str:
    return "0x" + bytes(Account.unsafe_sign_hash(fill.digest(FILLS_DOMAIN), key.key).signature).hex()


def fill_json(fill: Fill, key: LocalAccount = VENUE) -> dict[str, Any]:
    f = fill.model_dump()
    f["qty"], f["price"] = str(f["qty"]), str(f["price"])
    return {"fill": f, "signature": sign_fill(fill, key)}


def populate(engine: Engine) -> None:
    with engine.begin() as conn:
        registry.register_venue(conn, "dexA", VENUE.address, "dex", created_ms=NOW_MS)
        registry.approve_venue(conn, "dexA")
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_000, 60_000, 1)
        registry.add_instrument(conn, "ETH-USD-PERP", "perp", "ETH", 8, 500, 2_000, 60_000, 1)
        registry.map_symbol(conn, "dexA", "BTC-PERP", "BTC-USD-PERP")
        for account, key, name, group in (
            (ALICE_ACCOUNT, ALICE, "alice", "professional"),
            (BOB_ACCOUNT, BOB, "bob", "buy_side"),
        ):
            registry.admit_member(conn, account, key.address, name, "market_maker", "tier1", group, created_ms=NOW_MS)
            registry.grant(conn, account, "BTC-USD-PERP")
        conn.execute(
            insert(t.marks).values(instrument="BTC-USD-PERP", price=BTC_MARK, ts_ms=NOW_MS - 2_000, source="t")
        )


def settle_pending(engine: Engine, sequence: int, tx_hash: bytes = b"\x77" * 32) -> bytes:
    """Put every pending fill into a confirmed batch (what the engine does), move positions, return the root."""
    with engine.begin() as conn:
        rows = conn.execute(t.fills.select().where(t.fills.c.batch_sequence.is_(None)).order_by(t.fills.c.id)).all()
        root = root_of([bytes(r.leaf) for r in rows])
        batch = Batch(sequence=sequence, prev_hash=b"\x00" * 32, as_of=NOW_MS // 1000, fills_root=root)
        changes: dict[tuple[int, str, str], int] = {}
        for r in rows:
            for member, sign in ((r.buyer, 1), (r.seller, -1)):
                key = (member, r.instrument, r.venue)
                changes[key] = changes.get(key, 0) + sign * int(r.qty)
        payload = BatchPayload(
            batch=batch,
            fill_ids=[r.id for r in rows],
            flows=[],
            marks_used={"BTC-USD-PERP": BTC_MARK},
            mark_ts={},
            funding=[],
            position_changes=changes,
            requirements={ALICE_ACCOUNT: (5_000 * 10**6, 4_000 * 10**6), BOB_ACCOUNT: (6_000 * 10**6, 4_800 * 10**6)},
            collateral_marks={},
            margin_detail={
                ALICE_ACCOUNT: MarginDetail(
                    es_core=4.5e9, concentration_addon=3e8, liquidity_addon=2e8, collateral_value=10**10
                ),
                BOB_ACCOUNT: MarginDetail(
                    es_core=5e9, concentration_addon=6e8, liquidity_addon=4e8, collateral_value=2 * 10**10
                ),
            },
        )
        conn.execute(
            insert(t.batches).values(
                sequence=sequence,
                status="confirmed",
                prev_hash=batch.prev_hash,
                digest=b"\x01" * 32,
                as_of_ms=NOW_MS,
                payload=payload.to_json(),
                tx_hash=tx_hash,
                block_number=42,
                built_ms=NOW_MS,
                confirmed_ms=NOW_MS,
            )
        )
        conn.execute(update(t.fills).where(t.fills.c.batch_sequence.is_(None)).values(batch_sequence=sequence))
        p = t.positions.c
        for (member, instrument, venue), dq in changes.items():
            where = (p.member == member) & (p.instrument == instrument) & (p.venue == venue)
            held = conn.execute(select(p.qty).where(where)).scalar_one_or_none()
            if held is None:
                conn.execute(insert(t.positions).values(member=member, instrument=instrument, venue=venue, qty=dq))
            else:
                conn.execute(update(t.positions).where(where).values(qty=int(held) + dq))
        apply_batch_fills(conn, [r.id for r in rows], sequence)
        conn.execute(t.settled_marks.delete().where(t.settled_marks.c.instrument == "BTC-USD-PERP"))
        conn.execute(
            insert(t.settled_marks).values(
                instrument="BTC-USD-PERP", price=BTC_MARK, ts_ms=NOW_MS, batch_sequence=sequence
            )
        )
    return root


def settings(db_url: str, **kw: Any) -> ApiSettings:
    base: dict[str, Any] = {
        "db_url": db_url,
        "chain_id": CHAIN_ID,
        "vault": VAULT,
        "operator_address": OPERATOR.address,
        "session_secret": "s" * 32,
    }
    base.update(kw)
    return ApiSettings.model_validate(base)


def make_api(db_url: str, **kw: Any) -> Generator[Api, None, None]:
    engine = open_ledger(db_url)
    populate(engine)
    clock = Clock()
    app = create_app(settings(db_url, **kw), engine=engine, clock=clock)
    with TestClient(app) as client:
        yield Api(client, engine, clock)
    engine.dispose()


@pytest.fixture
def api(tmp_path: Any) -> Iterator[Api]:
    """SQLite only: the fast default."""
    yield from make_api(f"sqlite:///{tmp_path / 'api.db'}")


@pytest.fixture
def api_any(ledger_url: str) -> Iterator[Api]:
    """SQLite and PostgreSQL."""
    yield from make_api(ledger_url)
