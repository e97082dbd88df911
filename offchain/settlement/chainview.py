"""The settlement engine's view of the chain: chain time and on-chain collateral holdings (the builder's
`ChainView`). offchain/defaults/chain.py extends it with the vault's default-fund reads."""

from __future__ import annotations

import time
from collections.abc import Sequence

from offchain.chain.vault import VaultClient


class VaultChainView:
    """ChainView over the vault: chain time and on-chain collateral holdings."""

    def __init__(self, vault: VaultClient) -> None:
        self.vault = vault

    def chain_time(self) -> int:
        return int(self.vault.w3.eth.get_block("latest")["timestamp"])

    def now_ms(self) -> int:
        return max(self.chain_time() * 1000, int(time.time() * 1000))

    def holdings(self, accounts: Sequence[int], assets: Sequence[int]) -> dict[tuple[int, int], int]:
        return {(a, s): self.vault.balance(a, s) for a in accounts for s in assets}
