"""One devnet history per module (a real Anvil, a SQLite ledger), published once; tampers copy the file
or settle on an Anvil snapshot that is reverted afterwards, so every tamper starts from the same history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3.types import RPCEndpoint

from offchain.audit import AuditReport, Discrepancy, run_audit
from offchain.chain.anvil import Anvil
from offchain.core.batch import Batch
from offchain.devnet.bootstrap import bring_up
from offchain.devnet.runtime import connect
from offchain.ledger.db import open_ledger
from offchain.ledger.publication import publish
from tests.audit.default_history import HonestTail, build_default_history, catch_up, revert, settle_signed, snapshot
from tests.audit.history import HistoryStats, build_history
from tests.defaults.test_default_e2e import MEMBERS as E2E_MEMBERS
from tests.settlement.conftest import Devnet, make_devnet

ROUNDS = 8


@dataclass
class History:
    devnet: Devnet
    published: Path
    stats: HistoryStats
    tmp: Path

    def audit(self, fills: Path | None = None) -> AuditReport:
        """Audit with the registry found from the chain (the one governed by the vault's governors)."""
        return run_audit(self.devnet.anvil.url, self.devnet.spec.vault, fills or self.published)

    def audit_with_registry(self, registry: str, fills: Path | None = None) -> AuditReport:
        return run_audit(self.devnet.anvil.url, self.devnet.spec.vault, fills or self.published, registry=registry)

    def expect(self, fills: Path, check: str, sequence: int | None, *words: str) -> Discrepancy:
        with pytest.raises(Discrepancy) as caught:
            self.audit(fills)
        d = caught.value
        assert (d.check, d.sequence) == (check, sequence), str(d)
        for w in words:
            assert w in str(d), str(d)
        return d

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.published.read_text().splitlines()]

    def tampered(self, name: str, edit: Callable[[list[dict[str, Any]]], object]) -> Path:
        """A copy of the published file with `edit` applied to its parsed lines (header first)."""
        lines = self.lines()
        edit(lines)
        out = self.tmp / f"{name}.jsonl"
        out.write_text("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines))
        return out

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Chain changes inside the block are reverted at its end."""
        provider = self.devnet.vault.w3.provider
        snap = provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
        try:
            yield
        finally:
            assert provider.make_request(RPCEndpoint("evm_revert"), [snap])["result"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    tmp = tmp_path_factory.mktemp("audit")
    devnets = make_devnet(f"sqlite:///{tmp / 'ledger.db'}")
    devnet = next(devnets)
    stats = build_history(devnet, ROUNDS)
    published = tmp / "fills.jsonl"
    publish(devnet.db, published)
    yield History(devnet, published, stats, tmp)
    next(devnets, None)  # leaves make_devnet's `with Anvil()`: the chain stops


@dataclass
class DefaultHistory(History):
    """The history with a full default (tests/audit/default_history.py)."""

    tail: HonestTail | None = None

    @contextmanager
    def at_cover(self) -> Iterator[Batch]:
        """Inside the block the chain is as it was just before the batch that COVERs (yielded, as the engine
        built it); afterwards the honest batches are settled again, so the history is whole for the next test."""
        assert self.tail is not None
        d = self.devnet
        revert(d, self.tail.snapshot)
        catch_up(d, max(b.as_of for b in self.tail.batches))
        self.tail.snapshot = snapshot(d)  # the pre-COVER state, kept for the next tamper
        inner = snapshot(d)
        try:
            yield self.tail.batches[0]
        finally:
            revert(d, inner)
            catch_up(d, max(b.as_of for b in self.tail.batches))
            for b in self.tail.batches:
                settle_signed(d, b)


@pytest.fixture(scope="module")
def default_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DefaultHistory]:
    tmp = tmp_path_factory.mktemp("audit-default")
    with Anvil() as anvil:
        url = f"sqlite:///{tmp / 'ledger.db'}"
        db = open_ledger(url)
        spec = bring_up(anvil.web3(), anvil.url, db, E2E_MEMBERS, "2022-11-01", operator_capital_usdc=1)
        devnet = Devnet(anvil, spec, db, url, connect(spec))
        started = time.perf_counter()
        _world, tail = build_default_history(devnet)
        published = tmp / "fills.jsonl"
        publish(devnet.db, published)
        stats = HistoryStats(batches=len(devnet.vault.settled_batches()), seconds=time.perf_counter() - started)
        yield DefaultHistory(devnet, published, stats, tmp, tail)
        db.dispose()
