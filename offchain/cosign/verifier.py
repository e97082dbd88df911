"""A co-signer's verifier: the auditor's replay kept up to date with the chain, and each proposed batch
checked on a fork of it as the next batch (offchain/audit/runner.py, `_Replay.propose`).

Its own data: the chain through its own RPC endpoint, the registry read there, the published history it was
started with (`history`: the fills file, for the batches settled before it ran), and the published line of
every batch it has verified since (kept in memory as the proposals arrive).

A batch settled that it never saw (signed by the others while it was down, or settled before it restarted
on an older copy of the published file) leaves it without that batch's line: it replays nothing of what
landed (`BehindError`, naming the sequences it lacks) until it is given those lines (`add_settled`; the
engine sends them with its next proposal when told so). Such a line is not taken on trust: it is replayed
against the batch on-chain with every check of the audit (its contextHash and fillsRoot commit to it), as
the line of any settled batch. A settled batch that fails a check stops the co-signer for good (`failed`):
it refuses every proposal after, naming that finding.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import is_address, to_checksum_address
from web3 import Web3

from offchain.audit.checks.anchors import AnchorChecker, check_header
from offchain.audit.checks.authorisation import ChainState
from offchain.audit.checks.calls import CallChecker
from offchain.audit.checks.commitments import FillChecker
from offchain.audit.checks.rederive import MarginVerifier
from offchain.audit.errors import AuditError, Discrepancy
from offchain.audit.events.source import VaultHistory
from offchain.audit.events.types import BatchSettled
from offchain.audit.model import ModelInputError, rebuild, record_inputs
from offchain.audit.published import PublishedBatch, PublishedFile
from offchain.audit.runner import _Operators, _Replay
from offchain.chain.artifacts import load_artifact
from offchain.chain.registry import RegistryState, discover_registry
from offchain.core.batch import Batch
from offchain.core.eip712 import Domain, vault_domain
from offchain.core.fills import fills_domain


@dataclass
class _StoredLines(Iterator[PublishedBatch]):
    """The published lines by sequence, handed to the replay in order as batches land."""

    lines: dict[int, PublishedBatch] = field(default_factory=dict)
    next_sequence: int = 1

    def __next__(self) -> PublishedBatch:
        line = self.lines.get(self.next_sequence)
        if line is None:
            raise StopIteration
        self.next_sequence += 1
        return line


class BehindError(AuditError):
    """Batches settled on-chain that this co-signer has no published line for: it cannot replay them."""

    def __init__(self, missing: list[int]) -> None:
        self.missing = missing
        super().__init__(f"behind: no published line for settled batches {missing}")


class StaleProposalError(AuditError):
    """A proposal for a sequence that has landed already (the engine went on with the others' signatures
    while this co-signer was busy): nothing to sign, nothing wrong."""


class ProposalVerifier:
    def __init__(
        self,
        w3: Web3,
        vault: str,
        registry: str | None = None,
        history: Path | None = None,
        registry_ttl_s: float = 30,
        source_keys: dict[str, str] | None = None,
    ) -> None:
        bad = sorted(name for name, address in (source_keys or {}).items() if not is_address(address))
        if bad:
            raise ValueError(f"price source keys that are not addresses: {bad}")
        self.w3 = w3
        self.vault = str(to_checksum_address(vault))
        self.chain_id = int(w3.eth.chain_id)
        self.domain: Domain = vault_domain(self.chain_id, self.vault)
        block = int(w3.eth.block_number)
        self.registry_address = str(to_checksum_address(registry or discover_registry(w3, self.vault, 0, block)))
        self.registry_ttl_s = registry_ttl_s
        self._registry_read = time.monotonic()
        state = RegistryState.read(w3, self.registry_address, block)
        self.store = _StoredLines()
        if history is not None:
            published = PublishedFile.open(history)
            check_header(published.header, state)
            for line in published.batches():
                self.store.lines[line.sequence] = line
            self._warm_up()
        contract = w3.eth.contract(address=self.vault, abi=load_artifact("Vault").abi)  # type: ignore[call-overload]
        self.state = _Replay(
            lines=self.store,
            chain=ChainState(w3, self.domain),
            fills=FillChecker(state, fills_domain(self.chain_id, self.vault)),
            anchors=AnchorChecker(state),
            calls=CallChecker(state.params.min_cure_s),
            operators=_Operators(contract),
            margin=MarginVerifier(state),
            source_keys=dict(source_keys or {}),
        )
        self.events = VaultHistory(w3, self.vault)
        self.next_block = 0
        self.failed: Discrepancy | None = None  # a settled batch that failed a check: nothing is signed after it
        self.lock = threading.Lock()  # one proposal at a time: the state is the chain's, in order

    def _warm_up(self) -> None:
        """Rebuild the model of the last published batch now, not at the first proposal (seconds of work)."""
        last = max((line for line in self.store.lines.values() if line.model), key=lambda x: x.sequence, default=None)
        text = None if last is None or last.model is None else record_inputs(last.model)
        if text is not None:
            with contextlib.suppress(ModelInputError):  # the batch's own check names it (`model`)
                rebuild(text)

    @property
    def last_sequence(self) -> int:
        return self.state.chain.last_sequence

    def sync(self) -> int:
        """Replay what landed since the last call; returns the block. BehindError (nothing replayed) when a
        settled batch has no line here; Discrepancy, for good, when a settled batch is wrong."""
        if self.failed is not None:
            raise self.failed
        block = int(self.w3.eth.block_number)
        events = list(self.events.events_between(self.next_block, block))
        missing = [e.sequence for e in events if isinstance(e, BatchSettled) and e.sequence not in self.store.lines]
        if missing:
            raise BehindError(missing)
        if time.monotonic() - self._registry_read > self.registry_ttl_s:
            self._refresh_registry(block)
        try:
            for event in events:
                self.state.apply(event)
            self.state.end_of_transaction()
        except Discrepancy as d:
            self.failed = d  # the replay stopped part-way: its state is not the chain's any more
            raise
        self.next_block = block + 1
        return block

    def add_settled(self, lines: list[PublishedBatch]) -> None:
        """Published lines of settled batches this co-signer lacks (a line it holds, verified when it was
        proposed, is kept); each is checked like any other when its batch is replayed."""
        with self.lock:
            for line in lines:
                if line.sequence >= self.store.next_sequence:
                    self.store.lines.setdefault(line.sequence, line)

    def _refresh_registry(self, block: int) -> None:
        """Governed registry changes (timelocked) since the last read: one snapshot shared by every check."""
        state = RegistryState.read(self.w3, self.registry_address, block)
        self.state.fills.registry_changed(state)
        self.state.anchors.registry = state
        self.state.margin.registry = state
        self._registry_read = time.monotonic()

    def check(self, batch: Batch, line: PublishedBatch) -> None:
        """Raise Discrepancy (naming the check) unless `batch` is right as the next batch; on success the
        line is kept, as this co-signer's copy of the published data for when the batch lands."""
        with self.lock:
            block = self.sync()
            if batch.sequence <= self.last_sequence:
                raise StaleProposalError(f"batch {batch.sequence} has landed already (tip {self.last_sequence})")
            self.state.fork().propose(batch, line, block)
            self.store.lines[line.sequence] = line
