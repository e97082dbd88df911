"""Re-export for the packages that still import the ledger's price store from here (cli/, demo/, devnet/,
scripts, tests): it lives in offchain/ledger/prices.py now (with the one latest-price rule)."""

from __future__ import annotations

from offchain.ledger.prices import LedgerPrices, publish_underlyings, record_funding, record_price

__all__ = ["LedgerPrices", "publish_underlyings", "record_funding", "record_price"]
