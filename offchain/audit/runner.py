"""The audit: replay the vault's history event by event, checking each batch as it lands, then the end state.

Before any event: the registry (found from the chain or given) is read whole at the audited block, and the
published header is checked against it (checks/anchors.py, `header-registry`): the header is a cache, the
registry the trust anchor.

Order of checks for a batch (the first failure is reported): sequence, hash chain, asOf, zero-sum,
digest, risk signatures (authorisation.py); published line, contextHash, fillsRoot (commitments.py);
context terms and funding against the registry (anchors.py); each fill's uniqueness, venue, symbol,
members, ingest window, venue key valid at its time, tick, against the registry (commitments.py);
close-outs by the auction venue (calls.py); previous marks, funding, recomputed transfers, or what a batch
without a context may carry (obligations.py); the risk model rebuilt from the published record, marks and
collateral prices against the published price evidence, each observation by its source's key (registered
on-chain, or given) (prices.py); haircuts against the model and every
member's IM/MM re-derived (rederive.py, compared once the rows are posted); the vault's own bookkeeping of
the batch (events/replay.py); margin calls and the timing of declarations (calls.py), no contribution during
a default (contributions.py), then the default rows, waterfall and advances (defaults.py); margin
requirements (requirements.py, then rederive.py); contribution rows against the re-derived Cover-2 targets
(contributions.py) and withdrawal approvals against the re-derived IM (approvals.py). After the
last event: nothing published is missing from the chain, the chain tip is the last batch checked, and
balances, debts and solvency at the audited block (solvency.py).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from offchain.audit.checks.anchors import AnchorChecker, check_header
from offchain.audit.checks.approvals import check_approvals
from offchain.audit.checks.authorisation import ChainState
from offchain.audit.checks.calls import CallChecker, check_close_outs
from offchain.audit.checks.commitments import FillChecker, check_commitments
from offchain.audit.checks.contributions import FundBefore, check_contributions, check_frozen
from offchain.audit.checks.defaults import check_default_actions
from offchain.audit.checks.obligations import PositionBook, parse_context
from offchain.audit.checks.prices import SourceKeys, check_collateral, check_marks
from offchain.audit.checks.rederive import HoldingWindow, MarginState, MarginVerifier, last_marks
from offchain.audit.checks.requirements import check_requirements
from offchain.audit.checks.solvency import AssetSolvency, check_final_state
from offchain.audit.errors import AuditError, Discrepancy
from offchain.audit.events.replay import ReplayError, VaultReplay
from offchain.audit.events.source import VaultHistory
from offchain.audit.events.types import (
    AdvanceRepaid,
    AssetListed,
    BatchSettled,
    ContributionChanged,
    DebtCollateralSeized,
    DefaultClosed,
    DefaultDeclared,
    DefaultEvent,
    Deposited,
    EstateClaimed,
    ExitLapsed,
    ExitRequestCancelled,
    ExitRequested,
    LiquidityAdvanced,
    MarginCalled,
    MemberAdmitted,
    SignersUpdated,
    VaultEvent,
    WaterfallDraw,
    WindDownTriggered,
    WindDownWithdrawal,
    WithdrawalCancelled,
    WithdrawalExecuted,
    WithdrawalRecalled,
    WithdrawalRequested,
)
from offchain.audit.model import rebuild
from offchain.audit.published import PublishedBatch, PublishedFile
from offchain.chain.artifacts import load_artifact
from offchain.chain.registry import RegistryNotFoundError, RegistryState, discover_registry
from offchain.core.batch import SETTLEMENT_ASSET, Batch
from offchain.core.context import BatchContext
from offchain.core.eip712 import vault_domain
from offchain.core.fills import fills_domain
from offchain.marketdata.index import IndexRule


@dataclass(frozen=True)
class AuditReport:
    vault: str
    chain_id: int
    block: int
    batches: int
    fills: int
    accounts: int
    members: int
    assets: tuple[AssetSolvency, ...]
    seconds: float
    timings: dict[str, float]
    recalls: int = 0  # withdrawals the vault recalled inside settle (WithdrawalRecalled), each matched by the replay


class Auditor:
    def __init__(
        self,
        w3: Web3,
        vault: str,
        fills: Path,
        registry: str | None = None,
        from_block: int = 0,
        to_block: int | None = None,
        source_keys: dict[str, str] | None = None,
    ) -> None:
        """`registry`: the registry's address; None finds it from the chain (`discover_registry`: the one
        registry governed by exactly the vault's governors). `source_keys`: price source -> the address of
        the key it signs its observations with (`price-signature`)."""
        self.w3 = w3
        self.vault = str(to_checksum_address(vault))
        self.registry = str(to_checksum_address(registry)) if registry is not None else None
        self.fills_path = fills
        self.from_block = from_block
        self.to_block = to_block
        self.source_keys = dict(source_keys or {})

    def run(self) -> AuditReport:
        started = time.perf_counter()
        w3 = self.w3
        try:
            chain_id = int(w3.eth.chain_id)
            block = self.to_block if self.to_block is not None else int(w3.eth.block_number)
            if not w3.eth.get_code(self.vault, block):  # type: ignore[arg-type]
                raise AuditError(f"no vault contract at {self.vault} on chain {chain_id} at block {block}")
            t0 = time.perf_counter()
            address = self.registry or discover_registry(w3, self.vault, self.from_block, block)
            if not w3.eth.get_code(address, block):  # type: ignore[arg-type]
                raise AuditError(f"no registry contract at {address} on chain {chain_id} at block {block}")
            registry = RegistryState.read(w3, address, block)
        except RegistryNotFoundError as exc:
            raise AuditError(f"cannot find the vault's registry: {exc}") from exc
        except OSError as exc:
            raise AuditError(f"cannot reach the RPC endpoint: {exc}") from exc
        published = PublishedFile.open(self.fills_path)
        contract = w3.eth.contract(address=self.vault, abi=load_artifact("Vault").abi)  # type: ignore[call-overload]
        check_header(published.header, registry)
        state = _Replay(
            lines=published.batches(),
            chain=ChainState(w3, vault_domain(chain_id, self.vault)),
            fills=FillChecker(registry, fills_domain(chain_id, self.vault)),
            anchors=AnchorChecker(registry),
            calls=CallChecker(registry.params.min_cure_s),
            operators=_Operators(contract),
            margin=MarginVerifier(registry),
            source_keys=self.source_keys,
        )
        timings = {"registry": time.perf_counter() - t0, "read": 0.0, "check": 0.0}
        for event in _timed(VaultHistory(w3, self.vault).events_between(self.from_block, block), timings):
            t0 = time.perf_counter()
            state.apply(event)
            timings["check"] += time.perf_counter() - t0
        state.end_of_transaction()

        t0 = time.perf_counter()
        for extra in state.lines:
            raise Discrepancy(extra.sequence, "published", "published in the fills file but not settled on-chain")
        f = contract.functions
        tip_seq = int(f.lastSequence().call(block_identifier=block))
        tip_hash = bytes(f.lastBatchHash().call(block_identifier=block))
        if (tip_seq, tip_hash) != (state.chain.last_sequence, state.chain.last_digest):
            raise Discrepancy(
                tip_seq,
                "sequence",
                f"the vault's tip is batch {tip_seq}, the events end at batch {state.chain.last_sequence}",
            )
        solvency = check_final_state(w3, contract, state.replay, block)
        timings["final"] = time.perf_counter() - t0
        timings["rederive"] = state.rederive_s
        timings["rebuild"] = state.rebuild_s
        return AuditReport(
            vault=self.vault,
            chain_id=chain_id,
            block=block,
            batches=state.chain.last_sequence,
            fills=state.fills.checked,
            accounts=max([3, *state.replay.accounts]),
            members=len(state.replay.accounts),
            assets=tuple(solvency),
            seconds=time.perf_counter() - started,
            timings=timings,
            recalls=state.recalls_seen,
        )


@dataclass
class _Replay:
    """The auditor's state while it walks the events: the vault's books, the chain tip, the fills seen,
    the positions, and the advance/repayment events of the current transaction not yet matched."""

    lines: Iterator[PublishedBatch]
    chain: ChainState
    fills: FillChecker
    anchors: AnchorChecker
    calls: CallChecker
    operators: _Operators
    margin: MarginVerifier
    replay: VaultReplay = field(default_factory=VaultReplay)
    window: HoldingWindow = field(default_factory=HoldingWindow)  # non-cash balances moved since the last batch
    index_rule: IndexRule = field(default_factory=IndexRule)
    # price source -> the address of its signing key (the verifier's own, checks/prices.py `price-signature`)
    source_keys: dict[str, str] = field(default_factory=dict)
    rederive_s: float = 0.0  # time in the model rebuild, price and IM/MM re-derivation checks (part of "check")
    # of which rebuilding a model not built before (once per calibration: `rebuild` caches by the inputs'
    # text, whose data hash the `model` check ties to the record); the rest is the per-batch cost
    rebuild_s: float = 0.0
    book: PositionBook = field(default_factory=PositionBook)
    observed: list[LiquidityAdvanced | AdvanceRepaid] = field(default_factory=list)
    # the WithdrawalRecalled ids of the settle transaction being read, in order (emitted before its BatchSettled:
    # by its transfer rows, contribution rows, DECLAREs and ASSESS rows, in that order)
    recalled: list[int] = field(default_factory=list)
    recalls_seen: int = 0  # of them, in the batches replayed so far
    # contribution, margin-call, default and waterfall events of the current transaction not yet matched
    observed_defaults: list[DefaultEvent] = field(default_factory=list)
    # a WindDownWithdrawal waiting for the next event: `executeWithdrawal` after wind-down emits one (for
    # what the debt seized) just before its WithdrawalExecuted
    wind_down: WindDownWithdrawal | None = None
    # an EstateClaimed waiting for the next event: inside `windDownWithdraw` its WindDownWithdrawal follows (the
    # payout's replay claims the estate itself); alone, it is anyone's `netEstateForDebt`
    estate_claim: EstateClaimed | None = None
    tx: bytes = b""
    # exit requests cancelled since the last batch: an exit close-out's fill ingested while one was open may
    # settle in the batch after the cancel (`auction-fill`, checks/calls.py)
    exits_cancelled: set[int] = field(default_factory=set)

    def apply(self, event: VaultEvent) -> None:
        if event.at.tx_hash != self.tx:
            self.end_of_transaction()
            self.tx = event.at.tx_hash
        try:
            if self.wind_down is not None and not isinstance(event, WithdrawalExecuted):
                self._wind_down_payout(self.wind_down)
            claim = self.estate_claim
            if claim is not None and not (
                isinstance(event, WindDownWithdrawal) and (event.account, event.asset) == (claim.account, claim.asset)
            ):
                self._estate_netted(claim)
            self._apply(event)
        except ReplayError as exc:
            seq = event.sequence if isinstance(event, BatchSettled) else None
            raise Discrepancy(seq, "replay", f"{type(event).__name__} in block {event.at.block}: {exc}") from exc

    def end_of_transaction(self) -> None:
        if self.estate_claim is not None:
            try:
                self._estate_netted(self.estate_claim)
            except ReplayError as exc:
                raise Discrepancy(None, "replay", f"EstateClaimed in transaction 0x{self.tx.hex()}: {exc}") from exc
        if self.wind_down is not None:
            try:
                self._wind_down_payout(self.wind_down)
            except ReplayError as exc:
                raise Discrepancy(
                    None, "replay", f"WindDownWithdrawal in transaction 0x{self.tx.hex()}: {exc}"
                ) from exc
        if self.observed:
            self._advances_match(f"transaction 0x{self.tx.hex()}", None)
        if self.observed_defaults:
            self._default_events_match(f"transaction 0x{self.tx.hex()}", None)
        self.replay.netted = set()

    def _default_events_match(self, where: str, seq: int | None) -> None:
        mine = self.replay.take_default_events()
        theirs = VaultReplay.observed_defaults(self.observed_defaults)
        self.observed_defaults.clear()
        if mine != theirs:
            raise Discrepancy(
                seq,
                "default-events",
                f"{where}: the rules give the default-fund events {mine}, the vault emitted {theirs}",
            )

    def _estate_netted(self, event: EstateClaimed) -> None:
        self.estate_claim = None
        with self._moving(event.account, event.asset):
            due, netted = self.replay.estate_netted(event)
        if (due, netted) != (event.amount, event.netted):
            raise Discrepancy(
                None,
                "wind-down",
                f"estate of account {event.account} asset {event.asset} netted: the rules give {due} netting "
                f"{netted}, the vault claimed {event.amount} netting {event.netted}",
            )

    def _wind_down_payout(self, event: WindDownWithdrawal) -> None:
        self.wind_down = None
        payout, seized = self.replay.wind_down_withdrawal(event)
        if (payout, seized) != (event.amount, event.seized_for_debt):
            raise Discrepancy(
                None,
                "wind-down",
                f"account {event.account} asset {event.asset}: the rules pay {payout} and seize {seized}, "
                f"the vault paid {event.amount} and seized {event.seized_for_debt}",
            )
        self._default_events_match(f"wind-down payout to account {event.account}", None)

    def _advances_match(self, where: str, seq: int | None) -> None:
        mine, theirs = self.replay.take_emitted(), VaultReplay.observed(self.observed)
        self.observed.clear()
        if mine != theirs:
            raise Discrepancy(
                seq, "advances", f"{where}: the rules give advances/repayments {mine}, the vault emitted {theirs}"
            )

    def _apply(self, event: VaultEvent) -> None:
        replay = self.replay
        match event:
            case LiquidityAdvanced() | AdvanceRepaid():
                self.observed.append(event)
            case WithdrawalRecalled():
                self.recalled.append(event.id)
            case DefaultClosed() if replay.wound_down:
                # no batch after the wind-down: anyone's closeDefaultAfterWindDown (its seizures and nettings
                # were applied from their own events; the layer-3 draw and the close are the rules' to give)
                self.observed_defaults.append(event)
                replay.close_default_after_wind_down(event.account)
            case ContributionChanged() | MarginCalled() | DefaultDeclared() | DefaultClosed() | WaterfallDraw():
                self.observed_defaults.append(event)
            case MemberAdmitted():
                replay.admitted(event)
            case AssetListed():
                replay.listed(event)
            case SignersUpdated():
                self.chain.signers_updated(event)
            case Deposited():
                with self._moving(event.account, event.asset):
                    replay.deposited(event)
                self._advances_match(f"deposit in block {event.at.block}", None)
            case WithdrawalRequested():
                with self._moving(event.account, event.asset):
                    replay.withdrawal_requested(event)
            case WithdrawalCancelled():
                pending = replay.pending.get(event.id)
                key = (pending.account, pending.asset) if pending is not None else (0, 0)
                with self._moving(*key):
                    replay.withdrawal_cancelled(event)
                self._advances_match(f"withdrawal {event.id} cancelled", None)
            case WithdrawalExecuted():
                replay.withdrawal_executed(event, self.wind_down)
                self.wind_down = None
            case ExitRequested():
                replay.exits.add(event.account)
            case ExitRequestCancelled() | ExitLapsed():
                replay.exits.discard(event.account)
                self.exits_cancelled.add(event.account)
            case WindDownTriggered():
                replay.wound_down = True
            case WindDownWithdrawal():
                self.estate_claim = None  # its own claim: the payout's replay makes it
                self.wind_down = event  # applied at the next event (see `wind_down`)
            case EstateClaimed():
                self.estate_claim = event  # applied at the next event (see `estate_claim`)
            case DebtCollateralSeized():
                replay.debt_collateral_seized(event)
            case BatchSettled():
                self._batch(event)

    @contextmanager
    def _moving(self, account: int, asset: int) -> Iterator[None]:
        """Record in the holding window how the event inside the block moves (account, asset)."""
        before = self.replay.balances.get((account, asset), 0)
        yield
        self.window.moved((account, asset), before, self.replay.balances.get((account, asset), 0))

    def _batch(self, event: BatchSettled) -> None:
        seq = event.sequence
        if event.call is None:
            raise AuditError(f"batch {seq}: settle calldata was not read")
        batch = self.chain.check_batch(event, event.call)
        published = next(self.lines, None)
        if published is None:
            raise Discrepancy(seq, "published", "settled on-chain but missing from the fills file")
        self._settle(batch, published, event.at.block, proposal=False)

    def propose(self, batch: Batch, published: PublishedBatch, block: int) -> None:
        """Check a proposed batch, not yet on-chain, as the next batch after the chain state replayed so far
        (what a co-signer runs before it signs): every check but the signatures, with the vault's events
        taken to be the ones the rules give. Mutates the state: call it on a `fork()`."""
        self.chain.check_proposal(batch)
        if published.sequence != batch.sequence:
            raise Discrepancy(batch.sequence, "published", f"the published line is batch {published.sequence}")
        self._settle(batch, published, block, proposal=True)

    def fork(self) -> _Replay:
        """A copy of the state to check a proposal on; the chain client, registry and rebuilt models are shared
        (read-only), everything the checks change is copied."""
        shared = (self.chain.w3, self.operators, self.lines, self.anchors.registry, self.fills.registry, self.margin)
        memo: dict[int, Any] = {id(x): x for x in shared}
        memo[id(self.fills)] = self.fills.fork()  # reads the fill ids settled so far instead of copying them
        return copy.deepcopy(self, memo)

    def _settle(self, batch: Batch, published: PublishedBatch, block: int, proposal: bool) -> None:
        seq = batch.sequence
        check_commitments(batch, published)
        members = self.replay.members
        ctx = parse_context(seq, published)
        if ctx is not None:
            self.anchors.check(batch, ctx)
        self.fills.check(seq, batch.as_of, published, members)
        if ctx is not None:
            exiting = frozenset(self.replay.exits | self.exits_cancelled)
            check_close_outs(
                batch, published, ctx, self.book.positions, members, self.replay, self.anchors.registry, exiting
            )
        self.exits_cancelled = set()
        operators = (
            self.operators.among({t.account for t in batch.transfers if t.amount < 0}, self.replay.accounts, block)
            if ctx is None
            else frozenset()
        )
        changed = self.book.settle(batch, published, members, ctx, operators)
        if ctx is not None:
            self.fills.marked(ctx.marks, batch.as_of)
        # what the model is re-run on (checked last, once every rule above has had its say): the marks in
        # force and the holdings before this batch's rows and transfers
        before = MarginState(dict(self.replay.marks), self.window.bounds(self.replay.balances))
        cash_low = dict(self.window.cash_low)
        cash_before = {a: self.replay.balances.get((a, SETTLEMENT_ASSET), 0) for a in self.replay.accounts}
        self.window.reset()
        self.replay.post_marks(batch.marks)
        self.replay.post_requirements(batch.requirements)
        recalled, self.recalled = self.recalled, []
        try:
            # a proposal has no events yet: the vault will recall what the rules recall
            self.replay.apply_transfers(batch.transfers, None if proposal else recalled)
        except ReplayError as exc:
            raise Discrepancy(seq, "replay", f"its transfers cannot apply: {exc}") from exc
        self.calls.check_calls(batch, self.replay)
        fund = FundBefore.of(self.replay, cash_low, cash_before)
        check_frozen(batch, fund)
        try:
            self.replay.apply_default_rows(
                batch.contributions, batch.margin_calls, batch.default_actions, layer1_marks=before.marks
            )
        except ReplayError as exc:
            raise Discrepancy(seq, "replay", f"its default rows cannot apply: {exc}") from exc
        if not proposal:
            self.recalls_seen += len(recalled)
        emitted = self.replay.take_default_events()
        # a proposal has no events yet: the vault will emit what the rules give
        observed = list(emitted) if proposal else VaultReplay.observed_defaults(self.observed_defaults)
        check_default_actions(batch, published, self.replay, self.book.positions, emitted, observed)
        self.observed_defaults.clear()
        self.calls.after_rows(batch)
        if proposal:
            self.replay.take_emitted()
        else:
            self._advances_match("its transfers and contributions", seq)
        check_requirements(seq, changed | {r.account for r in batch.requirements}, self.book.holders(), self.replay)
        t0 = time.perf_counter()
        self._rederive(batch, published, ctx, before, fund)
        self.rederive_s += time.perf_counter() - t0

    def _rederive(
        self, batch: Batch, published: PublishedBatch, ctx: BatchContext | None, before: MarginState, fund: FundBefore
    ) -> None:
        """The risk model rebuilt, prices against their evidence, haircuts, IM/MM re-derived, then the
        contribution rows against the re-derived Cover-2 targets and the withdrawal approvals against the
        re-derived IM."""
        misses, t0 = rebuild.cache_info().misses, time.perf_counter()
        rebuilt = self.margin.model_of(batch, published, self.replay)
        if rebuild.cache_info().misses != misses:
            self.rebuild_s += time.perf_counter() - t0
        if rebuilt is None:
            return
        evidence = published.price_evidence or {}
        # price sources registered on-chain sign with the registry's key; others with the one given, if any
        keys = SourceKeys(self.source_keys, self.anchors.registry)
        if ctx is not None:
            check_marks(batch, evidence, ctx, self.index_rule, keys)
        check_collateral(batch, evidence, rebuilt, before.marks, self.index_rule, source_keys=keys)
        self.margin.check_haircuts(batch.sequence, rebuilt, self.replay)
        marks = last_marks(self.book.last_marks, ctx)
        expected = self.margin.rederive(batch, rebuilt, self.book.positions, marks, self.replay, before.holdings)
        MarginVerifier.compare(expected, self.replay)
        if batch.contributions:
            targets = self.margin.contribution_targets(
                batch, rebuilt, self.book.positions, marks, self.replay, before.holdings
            )
            # the members whose exit this batch serves: an open request, IM 0 in force after the batch
            leaving = frozenset(a for a in self.replay.exits if self.replay.requirements.get(a, (0, 0))[0] == 0)
            check_contributions(batch, fund, targets, leaving)
        check_approvals(batch, self.replay, expected)


@dataclass
class _Operators:
    """The operator's own member accounts: those whose address holds the vault's OPERATOR_ROLE (read at
    the block of the batch that needs it; only batches without a context ask)."""

    contract: Any

    def among(self, candidates: set[int], accounts: dict[int, str], block: int) -> frozenset[int]:
        """Those of `candidates` (member accounts) whose address holds the role at `block`."""
        f = self.contract.functions
        role = f.OPERATOR_ROLE().call(block_identifier=block)
        return frozenset(
            a for a in sorted(candidates) if a in accounts and f.hasRole(role, accounts[a]).call(block_identifier=block)
        )


def _timed(events: Iterator[VaultEvent], timings: dict[str, float]) -> Iterator[VaultEvent]:
    """Charge the time spent waiting on the event source (RPC and decoding) to timings["read"]."""
    while True:
        t0 = time.perf_counter()
        event = next(events, None)
        timings["read"] += time.perf_counter() - t0
        if event is None:
            return
        yield event


def run_audit(
    rpc: str,
    vault: str,
    fills: Path,
    from_block: int = 0,
    to_block: int | None = None,
    registry: str | None = None,
    source_keys: dict[str, str] | None = None,
) -> AuditReport:
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 120}))
    return Auditor(w3, vault, fills, registry, from_block, to_block, source_keys).run()
