"""The settlement engine's view of the chain: the batch clock and on-chain collateral holdings (the
builder's `ChainView`). offchain/defaults/chain.py extends it with the vault's default-fund reads.

It lives in `chain` (not `settlement`) because it only reads the vault: settlement and defaults both
build on it, and neither imports the other for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from offchain.chain.vault import VaultClient


class Clock(Protocol):
    """Anything that tells the time in milliseconds: offchain/settlement/clock.py's clocks are (the same
    shape, declared here so that `chain` does not import `settlement`)."""

    def now_ms(self) -> int: ...


class VaultChainView:
    """ChainView over the vault.

    With a `clock` (the engine passes one: offchain/settlement/clock.py), `chain_time()` — the builder's
    `asOf` and heartbeat time — and `now_ms()` — mark ages and funding due — are that clock's; without one
    they are the latest block's time (readers such as the auction house that want the chain's own time)."""

    def __init__(self, vault: VaultClient, clock: Clock | None = None) -> None:
        self.vault = vault
        self.clock = clock

    def block_time(self) -> int:
        """Timestamp of the latest block."""
        return int(self.vault.w3.eth.get_block("latest")["timestamp"])

    def chain_time(self) -> int:
        if self.clock is not None:
            return self.clock.now_ms() // 1000
        return self.block_time()

    def now_ms(self) -> int:
        if self.clock is not None:
            return self.clock.now_ms()
        return self.block_time() * 1000

    def holdings(self, accounts: Sequence[int], assets: Sequence[int]) -> dict[tuple[int, int], int]:
        return {(a, s): self.vault.balance(a, s) for a in accounts for s in assets}
