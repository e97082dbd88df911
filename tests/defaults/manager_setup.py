"""The default manager's test set-up, shared by tests/defaults/test_manager.py and test_abandoned_batch.py: three
members on a SQLite ledger (one thin, margin-called; two rich), a fake of the vault's default-fund reads, and
the batch state the builder would hand the manager."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from offchain.core.batch import Transfer
from offchain.defaults.calls import AssetMark, CallPolicy
from offchain.defaults.manager import BatchState
from offchain.defaults.pool import PoolBook
from offchain.ingest import registry
from offchain.ledger.db import open_ledger

USDC = 10**6
THIN, MM, FUND = 4, 5, 6
MARKS = {0: AssetMark(USDC, 0, 6), 1: AssetMark(2_000 * USDC, 1_000, 18)}
POLICY = CallPolicy(cure_s=600, deep_cure_s=60, deep_fraction_bps=5_000)


class FakeFund:
    def __init__(self) -> None:
        self.debt: dict[int, int] = {}
        self.contrib = {THIN: 100 * USDC, MM: 600 * USDC, FUND: 400 * USDC}
        self.capital = 300 * USDC
        self.declared: list[int] = []  # DECLAREs the "vault" applied, in order

    def pool_book(self) -> PoolBook:
        """The vault's pool after the contributions (at value per share 1) and the DECLAREs."""
        book = PoolBook()
        for a, v in sorted(self.contrib.items()):
            book.contribute(a, v)
        for a in self.declared:
            book.declare(a)
        return book

    def debts(self, accounts: Sequence[int]) -> dict[int, int]:
        return {a: self.debt.get(a, 0) for a in accounts}

    def contributions(self, accounts: Sequence[int]) -> dict[int, int]:
        return {a: self.contrib.get(a, 0) for a in accounts}

    def pool(self) -> tuple[int, int]:
        v = sum(self.contrib.values())
        return v, v

    def operator_capital(self) -> int:
        return self.capital


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with engine.begin() as conn:
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_500, 120_000, 1)
        for a, name in ((THIN, "thin"), (MM, "mm"), (FUND, "fund")):
            registry.admit_member(conn, a, "0x" + f"{a:040x}", name, "hedge_fund", "tier2", "buy_side")
    yield engine
    engine.dispose()


def state(seq: int, as_of: int, cash: dict[int, int], *, pos: int, transfers: Sequence[Transfer] = ()) -> BatchState:
    return BatchState(
        sequence=seq,
        as_of=as_of,
        members=[(THIN, "tier2"), (MM, "tier1"), (FUND, "tier2")],
        holdings={(a, 0): c for a, c in cash.items()} | {(THIN, 1): 10**17},  # 0.1 WETH: 180 at haircut
        transfers=transfers,
        requirements={THIN: (1_000 * USDC, 800 * USDC) if pos else (0, 0), MM: (0, 0), FUND: (0, 0)},
        collateral=MARKS,
        positions={(THIN, "BTC-USD-PERP"): pos} if pos else {},
        marks={"BTC-USD-PERP": 20_000 * USDC},
        liquidity_addon={THIN: 20 * USDC},
        contribution_targets=None,
    )
