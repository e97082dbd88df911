"""Issue 11, finding 7, end to end on a real Anvil: a member requests a withdrawal of its free cash between the
engine's signing of the batch booking its loss and that batch's inclusion. The batch's debit recalls the
request (`WithdrawalRecalled`, VaultStorage._recallFor) instead of drawing an advance, and the full audit
(offchain/audit against the chain, every check) passes with the recall replayed where the vault made it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from offchain.audit import run_audit
from offchain.chain.vault import vault_sender
from offchain.defaults.fund import FundPolicy
from offchain.defaults.manager import DefaultsConfig
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ingest.service import AckStatus
from offchain.ledger import batches
from offchain.ledger.publication import publish
from offchain.settlement.clock import ChainClock
from tests.settlement.conftest import BTC_QTY, USDC, Devnet, make_devnet

Observer = Callable[[str, int], None]
MM, FUND = "Alpha Market Making", "Macro Fund"
QTY = 5 * BTC_QTY


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """SQLite only: the ledger plays no part in the recall, and the suite is near its time budget."""
    yield from make_devnet(f"sqlite:///{tmp_path / 'ledger.db'}")


def _cash(d: Devnet, account: int) -> int:
    return int(d.vault.contract.functions.balanceOf(account, 0).call())


def _request_at_signing(d: Devnet, name: str, requested: list[int]) -> Callable[[str, int], None]:
    """The engine's observer: at its first "signing" stage (the batch built, not yet sent), `name` asks to
    withdraw all its free collateral in cash, as a member racing its loss would."""
    m = d.member(name)

    def observe(stage: str, _sequence: int) -> None:
        if stage != "signing" or requested:
            return
        free = d.vault.free_collateral(m.account)
        assert free > 0
        requested.append(d.vault.request_withdrawal(vault_sender(d.vault.w3, m.key), 0, free, m.address))

    return observe


def test_a_request_racing_the_loss_is_recalled_and_the_audit_follows(devnet: Devnet, tmp_path: Path) -> None:
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 100_000)
    d.prices(btc=20_000)
    engine = settlement_engine(d.spec, d.db, clock=ChainClock(d.vault.w3))  # fills, prices, batches: chain time
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    account = d.member(FUND).account
    ack = ing.submit(*d.fill("otc-desk", "r-1", "XBT/USD", FUND, MM, QTY, 20_000, ts_ms=d.now_ms()))
    assert ack.status == AckStatus.ACCEPTED
    assert engine.step().action == "settled"
    im, _ = d.vault.contract.functions.requirementOf(account).call()
    assert 0 < im < 20_000 * USDC, im

    # BTC falls 20% (within the mark guard's jump limit): the fund sells its 5 BTC back at 16,000, a 20,000
    # loss, and races it with a withdrawal request of everything the vault lets it take (its cash less its IM,
    # below the loss).
    d.prices(btc=16_000)
    ing.refresh()  # the new mark (the snapshot is otherwise cached for a second)
    ack = ing.submit(*d.fill("otc-desk", "r-2", "XBT/USD", MM, FUND, QTY, 16_000, ts_ms=d.now_ms()))
    assert ack.status == AckStatus.ACCEPTED, ack.reason
    requested: list[int] = []
    engine.observer = _request_at_signing(d, FUND, requested)
    cash_before = _cash(d, account)
    result = engine.step()
    assert result.action == "settled" and len(requested) == 1
    (wid,) = requested
    assert d.vault.withdrawal(wid).status == "recalled"  # the debit brought it back instead of an advance
    assert d.vault.contract.functions.debtOf(account).call() == 0
    (settled,) = [b for b in d.vault.settled_batches() if b.batch.sequence == result.sequence]
    loss = -sum(t.amount for t in settled.batch.transfers if t.account == account and t.asset == 0)
    assert loss > cash_before - d.vault.withdrawal(wid).amount  # the request left less cash than the loss
    assert _cash(d, account) == cash_before - loss

    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    report = run_audit(d.anvil.url, d.spec.vault, published)
    assert report.recalls == 1 and report.batches == result.sequence


def _request_leaving_only_the_transfers(d: Devnet, engine_db: Engine, name: str, requested: list[int]) -> Observer:
    """The engine's observer: at the first "signing" stage with a contribution row for `name`, it asks to
    withdraw as much cash as the batch's transfer rows leave it (so they recall nothing) and the vault lets it
    (its free collateral): its contribution row then finds less cash than it asks for."""
    m = d.member(name)

    def observe(stage: str, _sequence: int) -> None:
        if stage != "signing" or requested:
            return
        with engine_db.connect() as conn:
            (stored,) = batches.unconfirmed(conn)
        b = stored.payload.batch
        (c,) = [c.amount for c in b.contributions if c.account == m.account]
        running = lowest = 0
        for t in b.transfers:
            if (t.account, t.asset) == (m.account, 0):
                running += t.amount
                lowest = min(lowest, running)
        cash = _cash(d, m.account)
        amount = min(d.vault.free_collateral(m.account), cash + lowest)
        assert cash - amount + running < c, "the request must leave the contribution short"
        requested.append(d.vault.request_withdrawal(vault_sender(d.vault.w3, m.key), 0, amount, m.address))

    return observe


def test_a_request_racing_a_contribution_is_recalled_and_the_audit_follows(devnet: Devnet, tmp_path: Path) -> None:
    """Finding 7's rule for a contribution row: the fund, asked for its Cover-2 contribution in the batch that
    opens its position, moves its cash to a withdrawal request before the batch lands. The contribution row
    recalls it (it used to revert the batch, `InsufficientBalance`), and the audit replays the recall there."""
    d = devnet
    d.deposit(MM, 500_000)
    d.deposit(FUND, 100_000)
    d.prices(btc=20_000)
    # contributions sized every batch (production: every 100), so the fill's batch carries them
    defaults = DefaultsConfig(fund=FundPolicy(every=1))
    engine = settlement_engine(d.spec, d.db, defaults=defaults, clock=ChainClock(d.vault.w3))
    ing = ingestor(d.spec, d.db, clock=d.now_ms)
    account = d.member(FUND).account
    requested: list[int] = []
    engine.observer = _request_leaving_only_the_transfers(d, d.db, FUND, requested)
    ack = ing.submit(*d.fill("otc-desk", "c-1", "XBT/USD", FUND, MM, QTY, 20_000, ts_ms=d.now_ms()))
    assert ack.status == AckStatus.ACCEPTED, ack.reason
    result = engine.step()
    assert result.action == "settled" and len(requested) == 1
    (wid,) = requested
    assert d.vault.withdrawal(wid).status == "recalled"
    (settled,) = [b for b in d.vault.settled_batches() if b.batch.sequence == result.sequence]
    (c,) = [c.amount for c in settled.batch.contributions if c.account == account]
    assert int(d.vault.contract.functions.contributionOf(account).call()) == c

    published = tmp_path / "fills.jsonl"
    publish(d.db, published)
    report = run_audit(d.anvil.url, d.spec.vault, published)
    assert report.recalls == 1 and report.batches == result.sequence
