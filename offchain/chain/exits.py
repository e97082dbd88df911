"""Members' exit requests on the vault, as the settlement engine follows and serves them (issue 11, finding 2).

A member that calls the vault's `requestExit` asks the risk signers to serve its exit: close it out and bring
its IM in force to 0 (docs/contracts.md "Forced exit"). Until it cancels (`cancelExit`) it may only reduce its
positions: the engine marks it `exiting` in the ledger's member table, and ingest refuses a fill that would
grow or flip its position (`EXITING`, offchain/ingest/validation.py). Otherwise a member could ask to exit,
keep trading, and wind the vault down after the escape period: honest signers cannot post IM 0 for a member
that keeps adding exposure.

The engine serves the exit of a member that is flat (offchain/settlement/builder.py, `serve_exits`): it posts
IM 0 / MM 0 for it and approves its pending withdrawals within its margin and the assets' outflow budgets. One
that still holds positions `exit_closeout_after_s` after its request (counted from the block of its latest
`ExitRequested`, `ExitState.requested_at`) is closed out by auction (offchain/defaults/closeout.py), then served.

`ExitWatcher.poll` reads, with `eth_getLogs` from the block after its last poll (the first poll scans the
history from block 0, `chunk_blocks` at a time), the events that open and close exit requests (a cancel, or
`ExitLapsed`: an armed exit not used within WIND_DOWN_WINDOW after its grace, which the vault clears) and
withdrawals, and the outflow budgets governance schedules; `ExitWatcher.state` is what it hands the engine
each step. `offchain.ledger.registry_store.sync_exiting` moves `active` members with an open request to
`exiting` and `exiting` ones without one back to `active` (close_only and defaulted stay: they are stricter;
a cure back to `active` is corrected in the same batch's transaction, offchain/settlement/engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import event_abi_to_log_topic

from offchain.chain.vault import VaultClient

# The events the watcher follows. WithdrawalVetoed is followed by a WithdrawalCancelled, so it is not needed.
_EVENTS = (
    "ExitRequested",
    "ExitRequestCancelled",
    "ExitLapsed",
    "WithdrawalRequested",
    "WithdrawalApproved",
    "WithdrawalExecuted",
    "WithdrawalCancelled",
    "WithdrawalRecalled",
    "OutflowBudgetUpdated",
)


@dataclass(frozen=True, slots=True)
class PendingWithdrawal:
    """A pending withdrawal no batch has approved (it waits the full delay unless one does)."""

    id: int
    account: int
    asset: int
    amount: int
    ready_at: int  # chain seconds (the vault adds the time paused since; the engine only compares with now)


@dataclass(frozen=True)
class ExitState:
    """What the builder needs to serve exits: the open requests, the unapproved pending withdrawals of those
    members, their debts (free collateral subtracts them), what each asset's outflow budget still allows in
    the current period, and the chain's time those were read at."""

    open: frozenset[int] = frozenset()
    withdrawals: tuple[PendingWithdrawal, ...] = ()
    debts: dict[int, int] = field(default_factory=dict)
    outflow_left: dict[int, int] = field(default_factory=dict)  # asset -> budget left this period
    chain_time: int = 0
    # account -> chain time of the block of its latest ExitRequested (emitted again when the vault restarts the
    # clock): what the engine's close-out delay counts from (offchain/defaults/closeout.py)
    requested_at: dict[int, int] = field(default_factory=dict)


class ExitWatcher:
    """The open exit requests and the unapproved pending withdrawals on one vault, kept by polling its events."""

    def __init__(self, vault: VaultClient, chunk_blocks: int = 50_000) -> None:
        self.vault = vault
        self.chunk_blocks = chunk_blocks  # per eth_getLogs (the first poll reads the whole history)
        self._next_block = 0
        self._outflow_period: int | None = None  # a constant of the vault
        self._open: set[int] = set()
        self._requested_at: dict[int, int] = {}  # account -> block time of its latest ExitRequested
        self._pending: dict[int, PendingWithdrawal] = {}
        self._next_budget: dict[int, tuple[int, int]] = {}  # asset -> (budget, from period), the last scheduled
        ev = vault.contract.events
        self._topics = {event_abi_to_log_topic(getattr(ev, name).abi): name for name in _EVENTS}

    def poll(self) -> frozenset[int]:
        """Apply the events up to the latest block; the accounts with an open exit request."""
        latest = int(self.vault.w3.eth.block_number)
        while self._next_block <= latest:
            end = min(self._next_block + self.chunk_blocks - 1, latest)
            logs = self.vault.w3.eth.get_logs(
                {
                    "address": self.vault.contract.address,
                    "fromBlock": self._next_block,
                    "toBlock": end,
                    "topics": [["0x" + bytes(t).hex() for t in self._topics]],
                }
            )
            self._apply(logs)
            self._next_block = end + 1
        return frozenset(self._open)

    def _apply(self, logs: Iterable[Any]) -> None:
        ordered = sorted(logs, key=lambda x: (int(x["blockNumber"]), int(x["logIndex"])))
        for raw in ordered:
            name = self._topics.get(bytes(raw["topics"][0]))
            if name is None:
                continue
            args = getattr(self.vault.contract.events, name)().process_log(raw)["args"]
            if name == "ExitRequested":  # emitted again when the clock restarts: the request stays open
                account = int(args["account"])
                self._open.add(account)
                self._requested_at[account] = self._block_time(int(raw["blockNumber"]))
            elif name in ("ExitRequestCancelled", "ExitLapsed"):  # a lapse clears the request like a cancel
                self._open.discard(int(args["account"]))
                self._requested_at.pop(int(args["account"]), None)
            elif name == "OutflowBudgetUpdated":
                self._next_budget[int(args["asset"])] = (int(args["budget"]), int(args["from"]))
            elif name == "WithdrawalRequested":
                wid = int(args["id"])
                self._pending[wid] = PendingWithdrawal(
                    wid, int(args["account"]), int(args["asset"]), int(args["amount"]), int(args["readyAt"])
                )
            else:  # approved (ready at once: nothing left to approve), executed, cancelled or recalled
                self._pending.pop(int(args["id"]), None)

    def _block_time(self, number: int) -> int:
        return int(self.vault.w3.eth.get_block(number)["timestamp"])

    def state(self) -> ExitState:
        """Poll, then read what serving the open requests needs from the vault (debts, outflow budgets)."""
        open_exits = self.poll()
        block = self.vault.w3.eth.get_block("latest")
        now = int(block["timestamp"])
        pending = sorted(self._pending.values(), key=lambda w: w.id)
        # One ready already needs no approval (its owner executes it; the vault checks margin then).
        withdrawals = tuple(w for w in pending if w.account in open_exits and w.ready_at > now)
        f = self.vault.contract.functions
        if self._outflow_period is None:
            self._outflow_period = self.vault.outflow_period()
        period = now // self._outflow_period
        left: dict[int, int] = {}
        for asset in sorted({w.asset for w in withdrawals}):
            budget, used, at = (int(x) for x in f.outflowOf(asset).call())
            # The vault applies a scheduled budget at the first approval of its period, and a new period starts
            # unused: what the next approval of `asset` would be measured against.
            scheduled = self._next_budget.get(asset)
            if scheduled is not None and period >= scheduled[1]:
                budget = scheduled[0]
            left[asset] = max(0, budget - (used if at == period else 0))
        debts = {a: self.vault.debt(a) for a in sorted({w.account for w in withdrawals})}
        requested = {a: self._requested_at[a] for a in sorted(open_exits)}
        return ExitState(open_exits, withdrawals, debts, left, now, requested)
