"""crossclear: cross-venue clearing for 24/7 crypto markets (the off-chain side)."""

__version__ = "0.1.0"
