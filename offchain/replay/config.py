"""Replay parameters (immutable). Every value is documented in ``docs/stress-replays.md``; none is tuned
to a result: the crossclear ones are the issue's policies with round values, the venue-only ones are the
published shape of a large exchange's rulebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from offchain.core.waterfall import ASSESSMENT_CAP_MULTIPLE
from offchain.defaults.auction import AuctionParams
from offchain.defaults.calls import CallPolicy
from offchain.risk.errors import ConfigError

#: Venue-only maintenance-margin brackets: (upper bound of the position notional in USD, marginal rate).
#: Shaped like a large CEX's published BTCUSDT perpetual brackets (rate rises with size; the cumulative
#: "maintenance amount" makes MM continuous): 0.4 % to 50k, 0.5 % to 500k, 1 % to 8M, 2.5 % to 50M, 5 % to
#: 80M, 10 % to 100M, 12.5 % to 200M, 15 % to 300M, 25 % to 500M, 50 % beyond.
DEFAULT_MMR_BRACKETS: tuple[tuple[float, float], ...] = (
    (50e3, 0.004),
    (500e3, 0.005),
    (8e6, 0.01),
    (50e6, 0.025),
    (80e6, 0.05),
    (100e6, 0.10),
    (200e6, 0.125),
    (300e6, 0.15),
    (500e6, 0.25),
    (float("inf"), 0.50),
)


@dataclass(frozen=True)
class ReplayConfig:
    """Parameters of both policies.

    crossclear:
        calls: the margin-call policy, the engine's own (:class:`offchain.defaults.calls.CallPolicy`, by default
            the one the engine ships with, as ``DefaultsConfig().calls``): the replay decides every call, cure and
            default with the engine's :func:`offchain.defaults.calls.decide`, never a copy of it.
        auction: the close-out auction's parameters, the engine's own
            (:class:`offchain.defaults.auction.AuctionParams`: tranche size, interval, bid band, minimum penalty);
            tranches are sized and cleared by the engine's ``tranche_qty`` and ``clear_tranche``.
        instrument_band_bps: the instruments' price band (the devnet's, 500 bps): it caps the house's penalty on
            an unbid remainder, as the engine caps it at the instrument's band.
        qty_decimals: quantity units of the replay's instruments (positions are rounded to them at default).
        bid_excess_share: a bidder commits at most this share of its excess over IM to new risk (a taken
            tranche that reduces its own opposite position needs no excess).
        impact_coeff: Y of the square-root law (bids' concession and the unbid penalty; the risk engine's
            liquidity add-on uses the same Y = 1).
        operator_share: operator capital (L3) as a share of the default fund (EMIR: ≥ 25 %).
        assessment_multiple: L5 budget per survivor over the window, a multiple of its first contribution (at
            most the vault's ``ASSESSMENT_CAP_MULTIPLE``, which also caps each default's assessment).
    venue-only:
        mmr_brackets: maintenance-margin brackets (see :data:`DEFAULT_MMR_BRACKETS`).
        im_to_mm: venue initial margin = ``im_to_mm × MM`` (the leverage cap at entry).
        warning_ratio: a member whose venue equity falls below ``warning_ratio × MM`` tops up (after its
            response time) back to the venue IM, from its reserve, then from its other venues' excess.
    """

    calls: CallPolicy = field(default_factory=CallPolicy)
    auction: AuctionParams = field(default_factory=AuctionParams)
    instrument_band_bps: int = 500
    qty_decimals: int = 8
    bid_excess_share: float = 0.25
    impact_coeff: float = 1.0
    operator_share: float = 0.25
    assessment_multiple: float = 2.0
    mmr_brackets: tuple[tuple[float, float], ...] = DEFAULT_MMR_BRACKETS
    im_to_mm: float = 2.0
    warning_ratio: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.instrument_band_bps <= 10_000 or not 0 <= self.qty_decimals <= 18:
            raise ConfigError("need 0 < instrument_band_bps <= 10000 and 0 <= qty_decimals <= 18")
        if not 0 <= self.bid_excess_share <= 1:
            raise ConfigError("bid_excess_share must be in [0, 1]")
        if self.impact_coeff < 0:
            raise ConfigError("need impact_coeff >= 0")
        if self.operator_share < 0.25 or not 0 <= self.assessment_multiple <= ASSESSMENT_CAP_MULTIPLE:
            raise ConfigError(
                f"operator_share must be >= 0.25 (EMIR) and assessment_multiple in [0, {ASSESSMENT_CAP_MULTIPLE}]"
            )
        if self.im_to_mm < 1 or self.warning_ratio < 1:
            raise ConfigError("need im_to_mm >= 1 and warning_ratio >= 1")
        uppers = [u for u, _ in self.mmr_brackets]
        if not self.mmr_brackets or uppers != sorted(uppers) or self.mmr_brackets[-1][0] != float("inf"):
            raise ConfigError("mmr_brackets must be increasing and end with an infinite bound")


def bracket_mm(notional: NDArray[np.float64], brackets: tuple[tuple[float, float], ...]) -> NDArray[np.float64]:
    """Maintenance margin of absolute notionals (any shape): each slice of the notional at its bracket's rate."""
    a = np.abs(notional)
    out = np.zeros_like(a)
    lo = 0.0
    for upper, rate in brackets:
        out += rate * np.clip(a - lo, 0.0, upper - lo)
        lo = upper
    return out
