"""Round 4, finding 12 (engine): a batch the vault refuses is dropped (`batches.drop_unsent`), but the default
manager's writes for it stay in the ledger, so the next build never proposes its COVER/CLOSE again.

Asserts the harm. Run: PYTHONPATH=$PWD .venv/bin/python -m pytest -q -p no:cacheprovider
docs/review/issue-11/round4/test_r4_12_abandoned_default_writes.py  (SQLite, no chain). The set-up is
tests/defaults/test_manager.py::test_call_no_cure_declare_then_cover_and_close up to the COVER batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from offchain.core.batch import CLOSE, COVER, DECLARE, Transfer
from offchain.defaults.calls import AssetMark, CallPolicy
from offchain.defaults.manager import BatchState, DefaultManager, DefaultsConfig
from offchain.defaults.pool import PoolBook
from offchain.ingest import registry
from offchain.ledger import batches
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger

USDC = 10**6
THIN, MM, FUND = 4, 5, 6
MARKS = {0: AssetMark(USDC, 0, 6), 1: AssetMark(2_000 * USDC, 1_000, 18)}
POLICY = CallPolicy(cure_s=600, deep_cure_s=60, deep_fraction_bps=5_000)
RICH = {MM: 10**6 * USDC, FUND: 10**6 * USDC}


class FakeFund:
    """The vault's default-fund reads (as in tests/defaults/test_manager.py)."""

    def __init__(self) -> None:
        self.debt: dict[int, int] = {}
        self.contrib = {THIN: 100 * USDC, MM: 600 * USDC, FUND: 400 * USDC}
        self.capital = 300 * USDC
        self.declared: list[int] = []

    def pool_book(self) -> PoolBook:
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
        holdings={(a, 0): c for a, c in cash.items()} | {(THIN, 1): 10**17},
        transfers=transfers,
        requirements={THIN: (1_000 * USDC, 800 * USDC) if pos else (0, 0), MM: (0, 0), FUND: (0, 0)},
        collateral=MARKS,
        positions={(THIN, "BTC-USD-PERP"): pos} if pos else {},
        marks={"BTC-USD-PERP": 20_000 * USDC},
        liquidity_addon={THIN: 20 * USDC},
        contribution_targets=None,
    )


def test_harm_a_refused_cover_and_close_is_never_proposed_again(db: Engine) -> None:
    fund = FakeFund()
    mgr = DefaultManager(DefaultsConfig(calls=POLICY))
    with db.begin() as conn:
        mgr.rows(conn, state(10, 1_000, {THIN: 500 * USDC, **RICH}, pos=10**8), fund)
    with db.begin() as conn:
        vm = [Transfer(account=THIN, asset=0, amount=-700 * USDC), Transfer(account=MM, asset=0, amount=700 * USDC)]
        mgr.rows(conn, state(11, 1_010, {THIN: 500 * USDC, **RICH}, pos=10**8, transfers=vm), fund)
    fund.debt[THIN] = 200 * USDC
    with db.begin() as conn:
        rows = mgr.rows(conn, state(12, 1_070, {THIN: 0, **RICH}, pos=10**8), fund)
        assert [(a.account, a.action) for a in rows.default_actions] == [(THIN, DECLARE)]
    fund.declared.append(THIN)  # batch 12 (the DECLARE) landed
    fund.debt[THIN] = 1_700 * USDC
    # Batch 13 is built (its default writes committed with it, as in SettlementEngine.step) ...
    with db.begin() as conn:
        rows = mgr.rows(conn, state(13, 1_400, {THIN: 0, **RICH}, pos=0), fund)
        assert [(a.action) for a in rows.default_actions if a.account == THIN] == [COVER, CLOSE]
    # ... the vault refuses it at prepare (e.g. finding 1's 1-wei deposit, or finding 8's moved mark), and the
    # engine abandons it exactly as SettlementEngine._abandon does:
    with db.begin() as conn:
        batches.drop_unsent(conn, 13)
    # On-chain nothing happened: THIN is still in default with 1,700 of debt. The next build, same sequence:
    with db.begin() as conn:
        status = conn.execute(select(t.defaults.c.status)).scalar_one()
        retry = mgr.rows(conn, state(13, 1_410, {THIN: 0, **RICH}, pos=0), fund)
    assert status == "closed", "the ledger recorded the refused batch's CLOSE"
    assert retry.default_actions == (), "no COVER and no CLOSE are proposed again: the default stays open on-chain"
