"""Ingest: venue-signed fills checked against the registry and stored exactly once.

`registry` holds the operator's functions (venues, signer keys, instruments, symbols, members,
permissions); `validation` the pure checks and their reason codes; `service` the `Ingestor` that
venues submit to. See docs/venues.md for the venue-facing contract.
"""

from offchain.ingest.errors import RegistryError
from offchain.ingest.service import Ack, AckStatus, Ingestor
from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ingest.validation import Reason, Rejection, TimeWindow, validate

__all__ = [
    "Ack",
    "AckStatus",
    "Ingestor",
    "Reason",
    "RegistryError",
    "RegistrySnapshot",
    "Rejection",
    "TimeWindow",
    "validate",
]
