"""Re-exports for the packages that still import the ledger's snapshot readers from here (app/, devnet/,
tests/audit): they live in offchain/ledger/ now (batch_inputs.py, instruments.py, positions.py, prices.py)."""

from __future__ import annotations

from offchain.core.obligations import InstrumentSpec, PendingFill, SettledMark
from offchain.ledger.batch_inputs import load_member_accounts, load_pending_fills
from offchain.ledger.instruments import load_instruments
from offchain.ledger.positions import load_positions
from offchain.ledger.prices import load_settled_marks

__all__ = [
    "InstrumentSpec",
    "PendingFill",
    "SettledMark",
    "load_instruments",
    "load_member_accounts",
    "load_pending_fills",
    "load_positions",
    "load_settled_marks",
]
