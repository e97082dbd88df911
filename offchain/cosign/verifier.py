"""A co-signer's verifier: the auditor's replay kept up to date with the chain, and each proposed batch
checked on a fork of it as the next batch (offchain/audit/runner.py, `_Replay.propose`).

Its own data: the chain through its own RPC endpoint, the registry read there, the published history it was
started with (`history`: the fills file, for the batches settled before it ran), and the published line of
every batch it has verified since (kept in memory as the proposals arrive).

A batch settled that it never saw (signed by the others while it was down or not asked, or settled before
it restarted on an older copy of the published file) leaves it without that batch's line. Asked to sign
batch n+k having verified up to n, it **catches up by itself** first: it reads the landed batches
n+1..n+k-1 from the chain (their `settle` calldata, as every batch) and their published lines from its own
sources (`published`: its history file read again, then each published fills file or URL it is configured
with, e.g. a mirror of what `crossclear publish` writes), and replays them with every check. Only what none
of its sources has yet leaves it behind (`BehindError`, naming the sequences it lacks): it replays nothing
until it is given those lines (`add_settled`; the engine sends them from its ledger with its next proposal
when told so). No line is taken on trust, wherever it comes from: it is replayed against the batch on-chain
with every check of the audit (its contextHash and fillsRoot commit to it), as the line of any settled
batch. A settled batch that fails a check stops the co-signer for good (`failed`): it refuses every proposal
after, naming that finding.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
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
from offchain.audit.published import PublishedBatch, PublishedFile, parse_batch
from offchain.audit.runner import _Operators, _Replay
from offchain.chain.artifacts import load_artifact
from offchain.chain.registry import RegistryState, discover_registry
from offchain.core.batch import Batch
from offchain.core.eip712 import Domain, vault_domain
from offchain.core.fills import fills_domain

log = logging.getLogger("crossclear.cosign")


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
        published_sources: Sequence[str] = (),
        fetch_timeout_s: float = 10.0,
    ) -> None:
        """`published_sources`: where it reads the lines of settled batches it lacks (paths of published fills files,
        or http(s) URLs serving one), after its `history` file read again."""
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
        self.sources: list[str] = ([] if history is None else [str(history)]) + list(published_sources)
        self.fetch_timeout_s = fetch_timeout_s
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
        missing = self._missing(events)
        if missing:
            self._catch_up(missing)
            missing = self._missing(events)
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

    def _missing(self, events: Sequence[object]) -> list[int]:
        return [e.sequence for e in events if isinstance(e, BatchSettled) and e.sequence not in self.store.lines]

    def _catch_up(self, missing: list[int]) -> None:
        """The published lines of the settled batches it lacks, from its own sources, in order, until it has
        them all; a source that cannot be read is logged and skipped (the next one is tried)."""
        wanted = {s for s in missing if s >= self.store.next_sequence}
        for source in self.sources:
            if not wanted:
                return
            try:
                found = published_lines(source, wanted, self.fetch_timeout_s)
            except (OSError, ValueError, httpx.HTTPError) as exc:
                log.warning("catching up: cannot read %s: %s", source, exc)
                continue
            for line in found:
                self.store.lines.setdefault(line.sequence, line)
                wanted.discard(line.sequence)
            if found:
                log.info("catching up: read the lines of batches %s from %s", sorted(x.sequence for x in found), source)

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


def published_lines(source: str, wanted: set[int], timeout_s: float = 10.0) -> list[PublishedBatch]:
    """The batch lines of a published fills file (a path, or an http(s) URL serving one) whose sequence is
    in `wanted` (only those are parsed). ValueError for a line that does not parse."""
    if source.startswith(("http://", "https://")):
        r = httpx.get(source, timeout=timeout_s)
        r.raise_for_status()
        text = r.text
    else:
        text = Path(source).read_text()
    out: list[PublishedBatch] = []
    for n, raw in enumerate(text.splitlines()[1:], start=2):  # line 1 is the header: a cache, not needed here
        if not raw.strip():
            continue
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError(f"{source}:{n}: not a batch line")
        if obj.get("sequence") in wanted:
            try:
                out.append(parse_batch(obj))
            except (KeyError, TypeError) as exc:
                raise ValueError(f"{source}:{n}: bad batch line: {exc}") from exc
    return out
