"""Moved to offchain/chain/chainview.py; this re-export stays only until offchain/devnet/runtime.py imports
it from there (another engineer's package this round)."""

from offchain.chain.chainview import VaultChainView

__all__ = ["VaultChainView"]
