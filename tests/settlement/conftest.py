"""A devnet per test module: its own Anvil (so chain time stays wall time), ledger, vault and registry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from offchain.chain.anvil import Anvil
from offchain.chain.deploy import mint
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.fills import Fill, fills_domain
from offchain.devnet.bootstrap import bring_up
from offchain.devnet.runtime import connect
from offchain.devnet.spec import DevnetSpec, MemberSpec
from offchain.ledger.db import open_ledger
from offchain.ledger.prices import record_price

USDC = 10**6
BTC_QTY = 10**8
MEMBERS = [
    ("Alpha Market Making", "market_maker", "tier1", "professional"),
    ("Macro Fund", "hedge_fund", "tier2", "buy_side"),
    ("DEX retail pool", "retail_pool", "tier2", "retail"),
    ("Protocol DAO", "dao", "tier2", "treasury"),
]


@dataclass
class Devnet:
    anvil: Anvil
    spec: DevnetSpec
    db: Engine
    db_url: str
    vault: VaultClient

    def member(self, name: str) -> MemberSpec:
        return next(m for m in self.spec.members if m.name == name)

    def now_ms(self) -> int:
        return int(self.vault.w3.eth.get_block("latest")["timestamp"]) * 1000

    def deposit(self, name: str, usdc: int) -> None:
        m = self.member(name)
        operator = vault_sender(self.vault.w3, self.spec.operator_key)
        mint(operator, self.spec.tokens["USDC"], m.address, usdc * USDC)
        self.vault.deposit(vault_sender(self.vault.w3, m.key), m.address, 0, usdc * USDC)

    def price(self, symbol: str, usd: float, ts_ms: int | None = None) -> None:
        with self.db.begin() as conn:
            record_price(conn, symbol, round(usd * USDC), ts_ms if ts_ms is not None else self.now_ms(), "test")

    def prices(self, btc: float, eth: float = 1_500.0) -> None:
        for symbol, usd in (("BTC-USD-PERP", btc), ("ETH-USD-PERP", eth), ("BTC", btc), ("ETH", eth)):
            self.price(symbol, usd)

    def fill(
        self,
        venue: str,
        fid: str,
        symbol: str,
        buyer: str,
        seller: str,
        qty: int,
        usd: float,
        ts_ms: int | None = None,
    ) -> tuple[Fill, bytes]:
        """A venue-signed fill, stamped `ts_ms` (the wall clock's now without it)."""
        from eth_account import Account

        v = next(x for x in self.spec.venues if x.name == venue)
        fill = Fill(
            venue=venue,
            venue_fill_id=fid,
            symbol=symbol,
            buyer=self.member(buyer).address,
            seller=self.member(seller).address,
            qty=qty,
            price=round(usd * USDC),
            ts=int(time.time() * 1000) if ts_ms is None else ts_ms,
        )
        sig = bytes(
            Account.unsafe_sign_hash(fill.digest(fills_domain(self.spec.chain_id, self.spec.vault)), v.key).signature
        )
        return fill, sig


def make_devnet(url: str, default_fund_usdc: int = 2_000_000, risk_asof: str = "2022-11-01") -> Iterator[Devnet]:
    with Anvil() as anvil:
        db = open_ledger(url)
        spec = bring_up(anvil.web3(), anvil.url, db, MEMBERS, risk_asof, default_fund_usdc=default_fund_usdc)
        yield Devnet(anvil, spec, db, url, connect(spec))
        db.dispose()


@pytest.fixture
def devnet(ledger_url: str) -> Iterator[Devnet]:
    """A devnet whose ledger is SQLite or PostgreSQL (each test runs on both)."""
    yield from make_devnet(ledger_url)
