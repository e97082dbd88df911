"""The root of crossclear's exceptions.

Every error crossclear raises on purpose derives from `CrossclearError` (as web3.py's errors derive from
`Web3Exception`), so a caller that wants "anything crossclear refused" catches one class, and the code that
must tell cases apart branches on the subclasses, never on message text. Each package keeps its own
subtree next to its code (`chain.errors`, `ingest.errors`, `risk.errors`, `audit.errors`, `api.errors`...);
this module only holds the root and the cases shared by several packages.
"""

from __future__ import annotations


class CrossclearError(Exception):
    """Base of every error crossclear raises on purpose."""


class ConfigError(CrossclearError):
    """Settings, a deployment description or a key could not be loaded, or are not allowed here."""
