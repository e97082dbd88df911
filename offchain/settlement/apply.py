"""Re-export for the packages that still import batch recording from here (devnet/): it lives in
offchain/ledger/batches.py now."""

from __future__ import annotations

from offchain.ledger.batches import apply_confirmed, record_batch, store_built

__all__ = ["apply_confirmed", "record_batch", "store_built"]
