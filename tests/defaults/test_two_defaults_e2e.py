"""Two defaults on a real Anvil, declared together, whose close-outs end in the same batch: the first COVER
draws layers 1-4 and leaves part of the pool; the second COVER, applied after that draw, writes off its own
contribution at the pool's lower value, draws the rest of the pool and assesses the survivors (layer 5) by
their exact pool shares at its DECLARE. The engine plans the second on the pool as the first leaves it
(before the fix it planned both on the pool at the start of the batch, and the vault refused the batch).
The vault accepts the batch, its WaterfallDraw events are the engine's plans, the engine's pool replay
(`VaultFundView.pool_book`) is the vault's, and `crossclear audit` passes the whole history.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from offchain.audit import run_audit
from offchain.chain.anvil import Anvil
from offchain.core.batch import ASSESS, COVER, DECLARE
from offchain.defaults.chain import VaultFundView
from offchain.devnet.bootstrap import bring_up
from offchain.devnet.reconcile import reconcile
from offchain.devnet.runtime import connect, ingestor
from offchain.ingest.service import AckStatus
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.ledger.publication import publish
from tests.defaults.test_default_e2e import DROP2, FUND, INTERVAL, MEMBERS, MM, RETAIL, THIN, World, deposit_weth, world
from tests.settlement.conftest import BTC_QTY, Devnet

pytestmark = pytest.mark.anvil

THIN2 = "Thin Two"


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with Anvil() as anvil:
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        db = open_ledger(url)
        members = [*MEMBERS, (THIN2, "hedge_fund", "tier2", "buy_side")]
        spec = bring_up(anvil.web3(), anvil.url, db, members, "2022-11-01", operator_capital_usdc=1)
        yield Devnet(anvil, spec, db, url, connect(spec))
        db.dispose()


def _open_book(w: World) -> None:
    d = w.d
    for name, usd in ((MM, 500_000), (FUND, 300_000), (RETAIL, 100_000), (THIN, 12_000), (THIN2, 9_000)):
        d.deposit(name, usd)
    deposit_weth(d, THIN, 0.5)
    d.prices(btc=20_000)
    acks = ingestor(d.spec, d.db).submit_many(
        [
            d.fill("dex-perp", "d-1", "BTC-PERP", THIN, MM, 3 * BTC_QTY, 20_000),
            d.fill("dex-perp", "d-2", "BTC-PERP", THIN2, FUND, 2 * BTC_QTY, 20_000),
            d.fill("cex", "c-1", "BTCUSDT", RETAIL, FUND, BTC_QTY, 20_000),
        ]
    )
    assert [a.status for a in acks] == [AckStatus.ACCEPTED] * 3
    w.settle(20_000)


@pytest.mark.timeout(400)
def test_two_defaults_the_second_assessed_after_a_layer_4_draw(devnet: Devnet, tmp_path: Path) -> None:
    w = world(devnet)
    d, f = w.d, w.f
    thin, thin2 = w.account(THIN), w.account(THIN2)
    survivors = {w.account(n) for n in (MM, FUND, RETAIL)}
    _open_book(w)
    w.warp(1)
    w.settle(DROP2)  # both are called
    deadline = max(int(f.marginCallOf(a).call()[1]) for a in (thin, thin2))
    assert deadline > 0
    w.warp(deadline - d.now_ms() // 1000 + 1)
    w.settle(DROP2)  # both DECLAREd
    assert f.inDefault(thin).call() and f.inDefault(thin2).call()
    assert w.house.step().opened == []  # the crash is beyond the band: no tranche before the engine confirms it
    w.confirm_mark(DROP2)
    w.house.step()  # nobody bids: the house takes every tranche of both
    for _ in range(8):
        if not f.openDefaults().call():
            break
        w.warp(INTERVAL)
        d.prices(btc=DROP2)
        w.house.step()
        w.settle(DROP2)
    assert f.openDefaults().call() == 0 and f.debtOf(thin).call() == 0 and f.debtOf(thin2).call() == 0

    # Both COVERs, in one batch: the first drains the pool (L4) and assesses; the second is assessed only.
    plans = w.manager.plans
    assert len(plans) == 2
    first, second = plans
    # The first draws L1-L4 and leaves part of the pool (a share is now worth less than a unit); the second
    # writes off its own contribution at that lower value, draws the rest of the pool, then is assessed.
    assert [int(x.layer) for x in first.draws] == [1, 2, 3, 4] and first.assessments == ()
    assert [int(x.layer) for x in second.draws] == [2, 4] and second.assessments
    assert {x.account for x in second.assessments} <= survivors
    (batch,) = [b.batch for b in d.vault.settled_batches() if any(a.action == COVER for a in b.batch.default_actions)]
    assert [a.action for a in batch.default_actions if a.action in (COVER, ASSESS)].count(COVER) == 2
    assert all(a.action != DECLARE for a in batch.default_actions)

    # The vault drew exactly the plans; every loss covered by layers 1-5; no outside money.
    planned = [(int(x.layer), x.account, x.asset, x.amount, x.value) for p in plans for x in (*p.draws, *p.assessments)]
    events = [
        (int(a["layer"]), int(a["account"]), int(a["asset"]), int(a["amount"]), int(a["value"]))
        for a in (e["args"] for e in d.vault.contract.events.WaterfallDraw().get_logs(from_block=0))
    ]
    assert events == planned == w.draws("chain") == w.draws("plan")
    assert all(p.uncovered == 0 and p.external == 0 and p.cover_amount == p.loss for p in plans)
    with d.db.connect() as conn:
        assert set(conn.execute(select(t.defaults.c.status)).scalars()) == {"closed"}
    assert reconcile(d.vault, d.db, w.acks) == []

    # The second's split is within the vault's caps, read from the exact shares at its DECLARE.
    book = VaultFundView(d.vault).pool_book()
    assert book.value == f.defaultFundPool().call()[0]
    at_declare = book.pool_at_declare(thin2)
    weights = {a: at_declare.value_of(book.shares_at_declare(thin2, a)) for a in survivors}
    assert all(x.amount <= 2 * weights[x.account] for x in second.assessments)

    # The auditor replays the whole history and passes it (its `assessments` check included).
    w.warp(1)
    w.settle(DROP2)
    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    report = run_audit(d.anvil.url, d.spec.vault, published)
    assert report.batches == len(d.vault.settled_batches())
