"""A batch the vault refuses before it is sent is dropped (`batches.drop_unsent`, as `SettlementEngine._abandon`
does), and the default manager's writes for it go with it: the rebuilt batch (same sequence, same state)
proposes the same margin calls and default rows again (issue 11, fourth review, finding 12).

The set-up is tests/defaults/test_manager.py::test_call_no_cure_declare_then_cover_and_close (SQLite, no chain).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, select

from offchain.core.batch import CLOSE, COVER, DECLARE, Transfer
from offchain.defaults.manager import DefaultManager, DefaultsConfig
from offchain.ledger import batches
from offchain.ledger import schema as t
from offchain.ledger.defaults import forget_undo
from tests.defaults.manager_setup import FUND, MM, POLICY, THIN, USDC, FakeFund, db, state

__all__ = ["db"]  # the ledger fixture, used by name

RICH = {MM: 10**6 * USDC, FUND: 10**6 * USDC}


def _ledger(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """The default-management tables a batch writes, in a comparable form."""
    tables = (t.margin_calls, t.defaults, t.waterfall_draws, t.df_contributions, t.default_undo)
    out = {tb.name: [tuple(r) for r in conn.execute(select(tb).order_by(*tb.primary_key.columns))] for tb in tables}
    out["members"] = [tuple(r) for r in conn.execute(select(t.members.c.account, t.members.c.status))]
    return out


def _declared(db: Engine, fund: FakeFund, mgr: DefaultManager) -> None:
    """Batches 10-12: a call, not cured, THIN DECLAREd in batch 12 (which lands)."""
    with db.begin() as conn:
        mgr.rows(conn, state(10, 1_000, {THIN: 500 * USDC, **RICH}, pos=10**8), fund)
    with db.begin() as conn:
        vm = [Transfer(account=THIN, asset=0, amount=-700 * USDC), Transfer(account=MM, asset=0, amount=700 * USDC)]
        mgr.rows(conn, state(11, 1_010, {THIN: 500 * USDC, **RICH}, pos=10**8, transfers=vm), fund)
    fund.debt[THIN] = 200 * USDC


def test_a_refused_cover_and_close_is_proposed_again(db: Engine) -> None:
    fund, mgr = FakeFund(), DefaultManager(DefaultsConfig(calls=POLICY))
    _declared(db, fund, mgr)
    with db.begin() as conn:
        rows = mgr.rows(conn, state(12, 1_070, {THIN: 0, **RICH}, pos=10**8), fund)
        assert [(a.account, a.action) for a in rows.default_actions] == [(THIN, DECLARE)]
        forget_undo(conn, 12)  # batch 12 confirmed (apply_confirmed does this)
    fund.declared.append(THIN)
    fund.debt[THIN] = 1_700 * USDC
    with db.connect() as conn:
        before = _ledger(conn)
    with db.begin() as conn:
        first = mgr.rows(conn, state(13, 1_400, {THIN: 0, **RICH}, pos=0), fund)
        assert [a.action for a in first.default_actions if a.account == THIN] == [COVER, CLOSE]
        assert conn.execute(select(t.defaults.c.status)).scalar_one() == "closed"
    with db.begin() as conn:  # refused at prepare, never sent: dropped
        batches.drop_unsent(conn, 13)
    with db.connect() as conn:
        assert _ledger(conn) == before  # the default is open again, nothing covered, no plan draws
    with db.begin() as conn:
        retry = mgr.rows(conn, state(13, 1_410, {THIN: 0, **RICH}, pos=0), fund)
    assert retry.default_actions == first.default_actions
    assert retry.waterfalls == first.waterfalls
    assert retry.contributions == first.contributions


def test_a_refused_declare_is_proposed_again(db: Engine) -> None:
    fund, mgr = FakeFund(), DefaultManager(DefaultsConfig(calls=POLICY))
    _declared(db, fund, mgr)
    with db.connect() as conn:
        before = _ledger(conn)
        assert (THIN, "close_only") in before["members"]
    with db.begin() as conn:
        first = mgr.rows(conn, state(12, 1_070, {THIN: 0, **RICH}, pos=10**8), fund)
        assert [(a.account, a.action) for a in first.default_actions] == [(THIN, DECLARE)]
    with db.begin() as conn:
        batches.drop_unsent(conn, 12)
    with db.connect() as conn:
        after = _ledger(conn)
    assert after == before  # no defaults row, THIN close_only again, batch 12's call verdicts gone
    with db.begin() as conn:
        retry = mgr.rows(conn, state(12, 1_080, {THIN: 0, **RICH}, pos=10**8), fund)
    assert retry.default_actions == first.default_actions
    assert retry.margin_calls == first.margin_calls


def test_a_confirmed_batch_keeps_its_writes(db: Engine) -> None:
    """Once a batch is confirmed its undo is forgotten: a later drop of another sequence touches nothing of it."""
    fund, mgr = FakeFund(), DefaultManager(DefaultsConfig(calls=POLICY))
    _declared(db, fund, mgr)
    with db.begin() as conn:
        mgr.rows(conn, state(12, 1_070, {THIN: 0, **RICH}, pos=10**8), fund)
        forget_undo(conn, 12)
    with db.connect() as conn:
        before = _ledger(conn)
    with db.begin() as conn:
        batches.drop_unsent(conn, 12)  # a no-op for the default writes of a confirmed batch
        batches.drop_unsent(conn, 13)
    with db.connect() as conn:
        assert _ledger(conn) == before
        assert conn.execute(select(t.defaults.c.status)).scalar_one() == "declared"


def test_writes_must_name_their_batch(db: Engine) -> None:
    """The undo finds a batch's rows by its sequence: writes naming another batch are refused."""
    from offchain.ledger.defaults import DefaultWrites, apply_writes

    with db.begin() as conn, pytest.raises(ValueError, match="name batches"):
        apply_writes(conn, DefaultWrites(closes=((1, 7),)), 8)
