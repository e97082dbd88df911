"""Live positions for close-out checks; the query lives in the fills store (offchain/ledger/fills_store.py).
Kept so existing importers (offchain/defaults/house.py) still work."""

from offchain.ledger.fills_store import live_positions

__all__ = ["live_positions"]
