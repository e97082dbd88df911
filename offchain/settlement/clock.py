"""One clock for the settlement engine.

The engine's now — a batch's `asOf`, the age of a mark, the heartbeat, which funding intervals are due — is
read from one `Clock`, the wall clock in every real deployment (the same clock ingest's time window and the
price feeders use). The chain's clock is only checked against it:
 - the latest block more than `max_lead_s` ahead of the wall halts settlement (a chain whose clock runs away
   would make withdrawal delays and the escape period meaningless), with an alert and a halted
   engine status that `/v1/health` reports; `max_lead_s = None` lifts the bound (a devnet warped forward);
 - a batch stamped with the wall clock that the vault calls "in the future" (`FutureAsOf`: the chain's
   clock lags) waits for the chain's next block and is sent again, unchanged; a lag longer than `max_lag_s`
   raises an alert and the halted status.
A simulation that replays history by moving the chain's clock (the demo) passes `ChainClock`, so all of its
processes share the chain's time instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from web3 import Web3


class Clock(Protocol):
    def now_ms(self) -> int: ...


class WallClock:
    """The wall clock: milliseconds since the epoch (UTC)."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ChainClock:
    """The latest block's time, for simulations whose world time is the chain's (the demo)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def now_ms(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"]) * 1000


@dataclass(frozen=True)
class ClockRule:
    max_lead_s: int | None = 120
    max_lag_s: int = 60

    def lead_halt(self, block_time_s: int, now_ms: int) -> str | None:
        """Why the chain's clock, running ahead of ours, halts settlement; None if it does not."""
        lead = block_time_s - now_ms // 1000
        if self.max_lead_s is not None and lead > self.max_lead_s:
            return f"the chain's latest block is {lead} s ahead of the wall clock (bound {self.max_lead_s} s)"
        return None

    def lag_halt(self, as_of_s: int, block_time_s: int) -> str | None:
        """Why a batch the chain still calls "in the future" halts settlement; None while the lag is short."""
        lag = as_of_s - block_time_s
        if lag > self.max_lag_s:
            return f"the chain's clock is {lag} s behind the wall clock (bound {self.max_lag_s} s)"
        return None
