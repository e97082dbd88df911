"""A member whose exit the batch serves gets its whole default-fund contribution back as soon as contributions
are not frozen (issue 11, fourth review, finding 5, engine side): the vault counts a served exit with a
contribution left as unserved (forceWindDown), and only a contribution row can return it. SQLite, no chain;
the set-up is tests/defaults/test_abandoned_batch.py's.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine, select

from offchain.core.batch import CLOSE, COVER, DECLARE
from offchain.defaults.fund import FundPolicy
from offchain.defaults.manager import BatchState, DefaultManager, DefaultsConfig
from offchain.ledger import schema as t
from tests.defaults.manager_setup import FUND, MM, POLICY, THIN, USDC, FakeFund, db, state
from tests.defaults.test_abandoned_batch import RICH, _declared

__all__ = ["db"]  # the ledger fixture


def _served(seq: int, fund: FakeFund, targets: dict[int, int] | None, served: frozenset[int]) -> BatchState:
    s = state(seq, 2_000 + seq, {THIN: 500 * USDC, **RICH}, pos=0)
    return dataclasses.replace(s, contribution_targets=targets, exits_served=served)


def test_a_served_exit_gets_its_whole_contribution_back_without_waiting_for_sizing(db: Engine) -> None:
    """Issue 11, fourth review, finding 5 (engine side): the vault counts a served exit with a contribution
    left as unserved, and only a contribution row returns it; the engine returns all of it in the batch that
    serves the exit, a sizing batch or not."""
    fund, mgr = FakeFund(), DefaultManager(DefaultsConfig(calls=POLICY, fund=FundPolicy(every=1_000)))
    with db.begin() as conn:
        rows = mgr.rows(conn, _served(21, fund, None, frozenset({MM})), fund)
        records = conn.execute(select(t.df_contributions.c.account, t.df_contributions.c.amount)).all()
    assert [(c.account, c.amount) for c in rows.contributions] == [(MM, -600 * USDC)]
    assert records == [(MM, -600 * USDC)]  # a return-only batch records the leaving member alone
    # Beside a sizing that would keep it in (its Cover-2 target 1,000): target 0, all of it back.
    with db.begin() as conn:
        sized = mgr.rows(
            conn, _served(1_000, fund, {THIN: 100 * USDC, MM: 1_000 * USDC, FUND: 400 * USDC}, frozenset({MM})), fund
        )
    assert [(c.account, c.amount) for c in sized.contributions] == [(MM, -600 * USDC)]
    # Nothing left: no row.
    fund.contrib[MM] = 0
    with db.begin() as conn:
        assert mgr.rows(conn, _served(22, fund, None, frozenset({MM})), fund).contributions == ()


def test_a_served_exits_contribution_waits_while_a_default_is_open(db: Engine) -> None:
    """Frozen contributions (a default open on-chain, or declared in this batch) carry no row: the vault would
    refuse it (ContributionLocked, CapacityMovedBesideCover); the return comes in the first batch after."""
    fund, mgr = FakeFund(), DefaultManager(DefaultsConfig(calls=POLICY, fund=FundPolicy(every=1_000)))
    _declared(db, fund, mgr)
    with db.begin() as conn:
        declare = mgr.rows(
            conn,
            dataclasses.replace(state(12, 1_070, {THIN: 0, **RICH}, pos=10**8), exits_served=frozenset({MM})),
            fund,
        )
    assert [a.action for a in declare.default_actions] == [DECLARE] and declare.contributions == ()
    fund.declared.append(THIN)
    fund.debt[THIN] = 1_700 * USDC
    with db.begin() as conn:  # the COVER + CLOSE batch: still frozen
        cover = mgr.rows(
            conn, dataclasses.replace(state(13, 1_400, {THIN: 0, **RICH}, pos=0), exits_served=frozenset({MM})), fund
        )
    assert [a.action for a in cover.default_actions if a.account == THIN] == [COVER, CLOSE]
    assert cover.contributions == ()
    fund.declared.clear()
    with db.begin() as conn:
        after = mgr.rows(
            conn, dataclasses.replace(state(14, 1_410, {THIN: 0, **RICH}, pos=0), exits_served=frozenset({MM})), fund
        )
    assert (MM, -600 * USDC) in [(c.account, c.amount) for c in after.contributions]
