"""Re-export for the packages that still import the stored batch from here (api/, demo/, devnet/): it
lives in offchain/ledger/batches.py now."""

from __future__ import annotations

from offchain.ledger.batches import BatchPayload, MarginDetail

__all__ = ["BatchPayload", "MarginDetail"]
