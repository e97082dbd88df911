"""Position limits from the tier table, as a pure check that ingest calls before accepting a fill.

A member's limit in an instrument is ``limit_multiplier[tier] × depth`` (depth: the quantity the house can
close within the base horizon, ``participation × ADV × h``; :func:`offchain.risk.tiers.position_limits`).
A fill is refused with the code :data:`POSITION_LIMIT` when it leaves the member's net position beyond
the limit *and* larger than before: a fill that reduces an over-limit position (after a limit cut, or
during a close-out) is always allowed. Where ingest calls it: ``offchain/ingest/validation.py``, after the
permission check, with the member's netted position across venues before and after the fill (the API
engineer wires it; see docs/risk.md, "Position limits").
"""

from __future__ import annotations

from dataclasses import dataclass

from offchain.risk.errors import ConfigError
from offchain.risk.tiers import Tier

#: The rejection code ingest returns for a fill beyond the member's position limit.
POSITION_LIMIT = "POSITION_LIMIT"


@dataclass(frozen=True)
class LimitBreach:
    code: str
    detail: str


def check_position_limit(tier: Tier, instrument: str, before: float, after: float, depth: float) -> LimitBreach | None:
    """None if the fill taking the net position from ``before`` to ``after`` (signed base units) is within
    the member's limit or reduces its position; else the breach, with the numbers."""
    if not depth >= 0:
        raise ConfigError(f"{instrument}: depth must be >= 0, got {depth}")
    limit = tier.limit_multiplier * depth
    if abs(after) <= limit or (abs(after) <= abs(before) and after * before >= 0):
        return None
    return LimitBreach(
        POSITION_LIMIT,
        f"{instrument}: net position {after:g} would exceed the {tier.name} limit {limit:g} "
        f"({tier.limit_multiplier:g} x depth {depth:g})",
    )
