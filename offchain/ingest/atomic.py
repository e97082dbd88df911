"""Moved to `offchain.ledger.atomic` (SQL lives in offchain/ledger/); kept so existing importers still work."""

from offchain.ledger.atomic import insert_new

__all__ = ["insert_new"]
