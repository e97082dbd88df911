"""Risk-based member tiers: each tier scales initial margin, position limits and default-fund share.

Tiers are direct-membership risk classes (credit quality, operational track record), not intermediaries.
Maintenance margin is a fixed, documented fraction of IM (``MarginConfig.mm_fraction``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError


@dataclass(frozen=True)
class Tier:
    """One tier. ``im_multiplier`` ≥ 1 (a tier may only add margin), ``limit_multiplier`` > 0 scales the
    per-instrument position limit (a multiple of the instrument's depth), ``df_multiplier`` ≥ 1 scales the
    member's default-fund contribution."""

    name: str
    im_multiplier: float
    limit_multiplier: float
    df_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.im_multiplier < 1 or self.limit_multiplier <= 0 or self.df_multiplier < 1:
            raise ConfigError(f"tier {self.name}: need im_multiplier >= 1, limit_multiplier > 0, df >= 1")


#: Default tiers: 0 = institutional (audited, long track record), 1 = standard, 2 = new/unrated.
DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("tier1", 1.0, 4.0, 1.0),
    Tier("tier2", 1.1, 2.0, 1.0),
    Tier("tier3", 1.25, 1.0, 1.25),
)


def _lookup(tiers: tuple[Tier, ...], member_tier: NDArray[np.int64], attr: str) -> NDArray[np.float64]:
    if member_tier.size and (member_tier.min() < 0 or member_tier.max() >= len(tiers)):
        raise ConfigError("member tier index out of range")
    table = np.array([getattr(t, attr) for t in tiers], dtype=np.float64)
    return table[member_tier]


def im_multipliers(tiers: tuple[Tier, ...], member_tier: NDArray[np.int64]) -> NDArray[np.float64]:
    """(M,) IM multiplier of each member."""
    return _lookup(tiers, member_tier, "im_multiplier")


def df_multipliers(tiers: tuple[Tier, ...], member_tier: NDArray[np.int64]) -> NDArray[np.float64]:
    """(M,) default-fund multiplier of each member."""
    return _lookup(tiers, member_tier, "df_multiplier")


def position_limits(
    tiers: tuple[Tier, ...], member_tier: NDArray[np.int64], depth: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(M, I) absolute position limit in base units: ``limit_multiplier[tier] * depth_i``."""
    return _lookup(tiers, member_tier, "limit_multiplier")[:, None] * depth[None, :]


def limit_breaches(
    positions: NDArray[np.float64],
    tiers: tuple[Tier, ...],
    member_tier: NDArray[np.int64],
    depth: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """(M, I) True where ``|position|`` exceeds the member's limit."""
    return np.abs(positions) > position_limits(tiers, member_tier, depth)
