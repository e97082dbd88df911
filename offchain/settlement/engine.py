"""The settlement engine: one batch in flight at a time, the on-chain sequence as the truth.

Each step: finish the batch in flight (if any), else build the next one; sign it; store the signed
transaction's hash; broadcast; wait for inclusion; apply it to the ledger. A crash anywhere leaves
one of four states, and `recover()` converges from each:
 - nothing built: the next step builds (the unclaimed fills are still pending);
 - built or sent, not on-chain: the same stored batch is submitted again (never a different batch with
   the same sequence);
 - on-chain, not applied to the ledger: the on-chain digest is checked against the stored one, then the
   batch is applied;
 - applied: nothing to do.

Time is the engine's `Clock` (the wall clock; offchain/settlement/clock.py): a batch's `asOf`, mark ages and
the heartbeat are read from it, and the chain's clock is only checked against it (a halt, not a guess).
Node failures arrive as crossclear's chain errors (offchain/chain/errors.py), and the engine branches on
their types. An `observer` sees each stage of a batch ("signing", "sent", "included"): the failover test
kills the leader there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal, Protocol, TypeVar

from hexbytes import HexBytes

from offchain.chain.chainview import VaultChainView
from offchain.chain.errors import (
    RPC_FAILURES,
    AlreadyKnown,
    ChainError,
    NonceTooLow,
    RevertedError,
    RpcUnavailable,
    TxNotFound,
    Underpriced,
    translate_rpc_error,
)
from offchain.chain.exits import ExitState, ExitWatcher
from offchain.chain.signers import RiskSigner, SignaturesRefusedError, SignerSignature, sign_batch
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient
from offchain.core.batch import ASSESS, COVER
from offchain.core.waterfall import Draw
from offchain.defaults.auction import AuctionParams
from offchain.defaults.chain import VaultFundView, waterfall_events
from offchain.defaults.closeout import closeout_delay, delay_in_force, sync_closeouts
from offchain.errors import CrossclearError
from offchain.ledger import batches
from offchain.ledger.alerts import record_alert
from offchain.ledger.batches import BatchPayload, StoredBatch, apply_confirmed
from offchain.ledger.defaults import store_chain_draws
from offchain.ledger.engine_status import HALTED, RUNNING, EngineStatus, write_status
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.registry_store import sync_exiting
from offchain.settlement.builder import BatchBuilder, ChainTip
from offchain.settlement.clock import Clock, ClockRule, WallClock

log = logging.getLogger("crossclear.settlement")
T = TypeVar("T")

# Reverts that mean "the chain moved on": recover() sorts them out.
SEQUENCE_REVERTS = {"BadSequence", "BadPrevHash"}
NONCE_ATTEMPTS = 5


class DivergenceError(CrossclearError):
    """The chain and the ledger disagree in a way the engine must not paper over (operator needed)."""


@dataclass(frozen=True)
class StepResult:
    action: Literal["idle", "settled", "abandoned", "recovered", "halted", "refused"]
    sequence: int | None = None
    gas_used: int | None = None
    fills: int = 0
    latency_s: float | None = None


Observer = Callable[[str, int], None]  # (stage, sequence): "signing", "sent", "included"


class SignatureSource(Protocol):
    """Risk signatures gathered outside the engine (co-signers, offchain/cosign): the engine holds no risk key.
    `collect` raises SignaturesRefusedError when fewer than the threshold sign."""

    def collect(self, payload: BatchPayload) -> list[SignerSignature]: ...


def _retrying(fn: Callable[[], T], what: str, attempts: int = 8, first_delay: float = 0.25) -> T:
    """Retry RPC outages (RpcUnavailable) with exponential backoff; any other error propagates at once,
    translated into crossclear's chain errors."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            try:
                return fn()
            except RPC_FAILURES as raw:
                raise translate_rpc_error(raw) from raw
        except RpcUnavailable as exc:
            if attempt == attempts - 1:
                raise
            log.warning("RPC unavailable, retrying", extra={"what": what, "error": str(exc), "retry_in_s": delay})
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


class SettlementEngine:
    def __init__(
        self,
        db: Engine,
        vault: VaultClient,
        submitter: TxSender,
        signers: Sequence[RiskSigner],
        builder: BatchBuilder,
        clock: Clock | None = None,
        clock_rule: ClockRule | None = None,
        node: str = "engine",
        observer: Observer | None = None,
        cosigners: SignatureSource | None = None,
        exit_closeout_after_s: int | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.submitter = submitter
        self.signers = list(signers)
        self.cosigners = cosigners  # when set, the batch is signed by them, never by `signers`
        self.builder = builder
        self.clock: Clock = clock or WallClock()
        self.clock_rule = clock_rule or ClockRule()
        self.node = node
        self.observer = observer
        self._halt: str | None = None  # the alert kind settlement is halted by (clock), None while running
        # Default management reads the vault's default fund too (offchain/defaults/chain.py).
        view = VaultChainView if builder.defaults is None else VaultFundView
        self.chain = view(vault, self.clock)
        # Members with an open exit request on the vault are `exiting` (reduce-only at ingest), and served once
        # flat (IM 0, withdrawals approved): offchain/chain/exits.py.
        self.exits = ExitWatcher(vault)
        # An exiting member that still holds positions this long after its request is closed out by auction
        # (offchain/defaults/closeout.py); None: E / 4. Checked against the vault's E at every step that needs it.
        self.exit_closeout_after_s = exit_closeout_after_s
        self._closeout_misconfigured = False

    def _stage(self, stage: str, sequence: int) -> None:
        if self.observer is not None:
            self.observer(stage, sequence)

    # ---------------------------------------------------------------- chain state

    def tip(self) -> ChainTip:
        f = self.vault.contract.functions
        as_of = int(f.lastAsOf().call())
        # The heartbeat counts from the last batch's asOf, which the engine's clock stamped: not from the
        # block that included it, whose time is the chain's (it may run ahead, e.g. a warped devnet).
        return ChainTip(
            sequence=int(f.lastSequence().call()), digest=bytes(f.lastBatchHash().call()), as_of=as_of, settled_at=as_of
        )

    # ---------------------------------------------------------------- the clock rule

    def _status(self, state: str, detail: str, lead_s: int, now_ms: int) -> None:
        with self.db.begin() as conn:
            write_status(conn, EngineStatus(self.vault.address, self.node, state, detail, lead_s, now_ms))

    def _halted(self, reason: str, kind: str, lead_s: int, now_ms: int) -> StepResult:
        """Stop building batches: one alert per episode, and the status row says why."""
        if self._halt != kind:
            with self.db.begin() as conn:
                record_alert(conn, now_ms, kind, self.node, reason)
            log.error("settlement halted", extra={"reason": reason})
        self._halt = kind
        self._status(HALTED, reason, lead_s, now_ms)
        return StepResult("halted")

    def check_clock(self) -> StepResult | None:
        """Halt (a StepResult) when the chain's clock runs too far ahead of the engine's, else None."""
        block_time = _retrying(self.chain.block_time, "read block time")
        now_ms = self.clock.now_ms()
        lead = block_time - now_ms // 1000
        reason = self.clock_rule.lead_halt(block_time, now_ms)
        if reason is not None:
            return self._halted(reason, "chain_clock_ahead", lead, now_ms)
        if self._halt == "chain_clock_ahead":
            log.info("settlement resumed: the chain's clock is within bounds again")
            self._halt = None
        if self._halt is None:  # a lagging chain stays halted until its batch lands (_included)
            self._status(RUNNING, "", lead, now_ms)
        return None

    def _in_flight(self) -> StoredBatch | None:
        with self.db.connect() as conn:
            stored = batches.unconfirmed(conn)
        if len(stored) > 1:
            raise DivergenceError(f"{len(stored)} unconfirmed batches in the ledger; at most one may be in flight")
        return stored[0] if stored else None

    def _last_confirmed(self) -> int:
        with self.db.connect() as conn:
            return batches.last_confirmed(conn)

    # ---------------------------------------------------------------- recovery

    def recover(self) -> StepResult | None:
        """Converge the ledger with the chain; returns what it did, or None if already converged."""
        tip = _retrying(self.tip, "read chain tip")
        confirmed = self._last_confirmed()
        flight = self._in_flight()
        if flight is None:
            if confirmed != tip.sequence:
                raise DivergenceError(f"chain is at batch {tip.sequence} but the ledger at {confirmed}")
            return None
        seq, digest, tx_hash, payload = flight.sequence, flight.digest, flight.tx_hash, flight.payload
        if seq <= tip.sequence:
            found = _retrying(lambda: self.vault.settled_digest(seq), "find settled batch")
            if found is None or found[0] != digest:
                raise DivergenceError(f"batch {seq} on-chain does not match the ledger's batch {seq}")
            receipt = _retrying(lambda: self.vault.w3.eth.get_transaction_receipt(HexBytes(found[1])), "read receipt")
            self._apply(payload, found[1], found[2], int(receipt["gasUsed"]), 0.0)
            return StepResult("recovered", seq, int(receipt["gasUsed"]), len(payload.fill_ids))
        if seq != tip.sequence + 1 or payload.batch.prev_hash != tip.digest:
            raise DivergenceError(f"ledger batch {seq} does not follow the chain's batch {tip.sequence}")
        return self._submit(payload, tx_hash)

    # ---------------------------------------------------------------- one step

    def step(self) -> StepResult:
        halted = self.check_clock()
        if halted is not None:
            return halted
        recovered = self.recover()
        if recovered is not None:
            return recovered
        tip = _retrying(self.tip, "read chain tip")
        exits = _retrying(self.exits.state, "read exit requests")
        with self.db.begin() as conn:
            payload = self.builder.build(conn, self.chain, self.vault.domain, tip, exits)
            # After the build: a margin call's cure writes `active` back, which must not lift reduce-only.
            for account, status in sync_exiting(conn, exits.open):
                log.info("member exit status", extra={"account": account, "status": status})
            self._sync_closeouts(conn, exits, tip)
        if payload is None:
            return StepResult("idle")
        return self._submit(payload, None)

    def _auction_params(self) -> AuctionParams:
        return AuctionParams() if self.builder.defaults is None else self.builder.defaults.config.auction

    def closeout_delay(self) -> int:
        """The exit close-out delay against the vault's E and loosening delay now (CloseoutTimingError if none
        fits)."""
        e, loosening = self.vault.escape_period(), self.vault.loosening_delay()
        return closeout_delay(e, loosening, self._auction_params(), self.exit_closeout_after_s)

    def _sync_closeouts(self, conn: Connection, exits: ExitState, tip: ChainTip) -> None:
        """Start and end exit close-outs for the open requests (the auction house runs them)."""
        delay = 0
        if exits.open:
            e, loosening = self.vault.escape_period(), self.vault.loosening_delay()
            delay, error = delay_in_force(e, loosening, self._auction_params(), self.exit_closeout_after_s)
            if error is not None and not self._closeout_misconfigured:  # one alert per episode
                record_alert(conn, self.clock.now_ms(), "exit_closeout_misconfigured", self.node, error)
            self._closeout_misconfigured = error is not None
        for c in sync_closeouts(
            conn, exits.open, exits.requested_at, delay, exits.chain_time, tip.sequence, self.clock.now_ms()
        ):
            log.info("exit close-out", extra={"closeout": c.closeout, "account": c.account, "status": c.status})

    def _submit(self, payload: BatchPayload, known_tx: bytes | None) -> StepResult:
        seq = payload.batch.sequence
        started = time.monotonic()
        if known_tx is not None:
            try:
                _retrying(lambda: self.submitter.lookup(known_tx), "look up sent batch")
                return self._included(payload, known_tx, started)
            except TxNotFound:
                log.info(
                    "stored batch tx unknown to the node; sending again",
                    extra={"sequence": seq, "tx": "0x" + known_tx.hex()},
                )
        self._stage("signing", seq)
        if self.cosigners is None:
            signatures = sign_batch(payload.batch, self.vault.domain, self.signers)
        else:
            try:
                signatures = self.cosigners.collect(payload)
            except SignaturesRefusedError as exc:  # stays stored, unsent; proposed again next step
                log.warning("co-signers refused the batch", extra={"sequence": seq, "detail": str(exc)})
                with self.db.begin() as conn:
                    record_alert(conn, self.clock.now_ms(), "cosign_refused", str(seq), str(exc))
                return StepResult("refused", seq)
        call = self.vault.settle_call(payload.batch, signatures)
        fee_bump = 1.0
        for _attempt in range(NONCE_ATTEMPTS):
            try:
                prepared = _retrying(partial(self.submitter.prepare, call, fee_bump=fee_bump), "prepare batch")
            except RevertedError as exc:
                if exc.error in SEQUENCE_REVERTS:
                    # The chain moved (our earlier send landed, or someone else settled): recover sorts it out.
                    return self.recover() or StepResult("recovered", seq)
                if exc.error == "FutureAsOf":
                    return self._chain_lags(payload)
                return self._abandon(payload, exc)
            with self.db.begin() as conn:
                batches.mark_sent(conn, seq, prepared.tx_hash)
            try:
                _retrying(partial(self.submitter.broadcast, prepared), "broadcast batch")
                break
            except AlreadyKnown:
                break  # the node has this very transaction: wait for it
            except NonceTooLow:
                # Another transaction from the submitter's key took the nonce: sign again with a fresh one.
                log.warning("nonce taken; signing the batch tx again", extra={"sequence": seq})
            except Underpriced:
                # A pending transaction holds the nonce: replace it with a higher fee.
                fee_bump *= 1.25
                log.warning("fee too low to replace a pending tx; bumping", extra={"sequence": seq, "bump": fee_bump})
        else:
            raise ChainError(f"batch {seq}: could not get its transaction accepted after {NONCE_ATTEMPTS} attempts")
        self._stage("sent", seq)
        return self._included(payload, prepared.tx_hash, started)

    def _included(self, payload: BatchPayload, tx_hash: bytes, started: float) -> StepResult:
        sent = _retrying(lambda: self.submitter.wait(tx_hash), "wait for batch")
        latency = time.monotonic() - started
        self._stage("included", payload.batch.sequence)
        if self._halt is not None:  # the lagging chain caught up with the batch's asOf
            log.info("settlement resumed: the chain's clock caught up", extra={"sequence": payload.batch.sequence})
            self._halt = None
        self._apply(payload, sent.tx_hash, int(sent.receipt["blockNumber"]), sent.gas_used, latency)
        return StepResult("settled", payload.batch.sequence, sent.gas_used, len(payload.fill_ids), latency)

    def _chain_lags(self, payload: BatchPayload) -> StepResult:
        """The vault calls the batch's asOf (the wall clock's) "in the future": the chain's clock lags. The
        batch stays stored, unsent, and goes again next step; a lag beyond the bound halts with an alert."""
        block_time = _retrying(self.chain.block_time, "read block time")
        now_ms = self.clock.now_ms()
        reason = self.clock_rule.lag_halt(payload.batch.as_of, block_time)
        if reason is not None:
            return self._halted(reason, "chain_clock_behind", block_time - now_ms // 1000, now_ms)
        log.info(
            "batch asOf ahead of the chain's clock; waiting for the next block",
            extra={"sequence": payload.batch.sequence},
        )
        return StepResult("idle", payload.batch.sequence)

    def _apply(self, payload: BatchPayload, tx_hash: bytes, block: int, gas: int | None, latency_s: float) -> None:
        draws: list[tuple[int, Draw]] = []
        if any(a.action in (COVER, ASSESS) for a in payload.batch.default_actions):
            # The vault's own WaterfallDraw events, stored with the batch (source 'chain' beside the plan).
            draws = _retrying(lambda: waterfall_events(self.vault, tx_hash), "read waterfall draws")
        with self.db.begin() as conn:
            apply_confirmed(conn, payload, tx_hash, block, gas, self.clock.now_ms())
            if draws:
                store_chain_draws(conn, payload.batch.sequence, draws)
        # The health line of a batch: one structured record per settlement.
        log.info(
            "batch settled",
            extra={
                "sequence": payload.batch.sequence,
                "fills": len(payload.fill_ids),
                "transfers": len(payload.batch.transfers),
                "requirements": len(payload.batch.requirements),
                "gas": gas,
                "latency_s": round(latency_s, 3),
                "block": block,
                "tx": "0x" + tx_hash.hex(),
            },
        )

    def _abandon(self, payload: BatchPayload, exc: RevertedError) -> StepResult:
        """A batch the vault refuses for a reason that retrying cannot fix, and that was never sent:
        drop it, release its fills and funding for the next batch, and raise an alert."""
        seq = payload.batch.sequence
        with self.db.begin() as conn:
            if batches.sent_tx(conn, seq) is not None:
                raise ChainError(f"batch {seq} was sent and now reverts with {exc}: operator needed") from exc
            batches.drop_unsent(conn, seq)
            record_alert(conn, self.clock.now_ms(), "batch_refused", str(seq), str(exc))
        log.error("batch refused by the vault", extra={"sequence": seq, "error": str(exc)})
        return StepResult("abandoned", seq)

    def run(
        self,
        interval_s: float,
        stop: Callable[[], bool],
        on_step: Callable[[StepResult], None] | None = None,
        guard: Callable[[], None] | None = None,
    ) -> None:
        """Step every `interval_s` seconds until `stop()` is true; `guard()` runs before each step and
        raises to stop the loop (the leader lock's check)."""
        while not stop():
            if guard is not None:
                guard()
            started = time.monotonic()
            result = self.step()
            if on_step is not None:
                on_step(result)
            if result.action in ("idle", "abandoned", "halted"):
                time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
