"""The position-limit step of ingest: a fill that takes either member's net position (across venues,
settled plus not yet settled) beyond its tier's limit, and further from zero, is refused per fill with
`POSITION_LIMIT`.

The limit itself is the risk engine's (offchain/risk/limits.py, in ledger units through
`RiskEngineMargin.position_limit(tier, instrument, before, after)`); ingest supplies the live position and
accumulates the fills of a bulk it has accepted so far, so a bulk cannot step past a limit in small fills.
A tier or an instrument the limit check does not know is refused too (fail closed): a fill the house
cannot bound is not cleared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from offchain.core.fills import Fill
from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ingest.validation import Accepted, Reason, Rejection
from offchain.risk.limits import LimitBreach

# (tier, instrument, net position before, after) in ledger quantity units -> the breach, if any.
PositionLimit = Callable[[str, str, int, int], LimitBreach | None]
PositionKey = tuple[int, str]  # (member account, cleared instrument)
LivePositions = dict[PositionKey, int]


def sides(accepted: Accepted, fill: Fill) -> tuple[tuple[str, str, int, int], tuple[str, str, int, int]]:
    """(side, address, account, signed quantity change) of the buyer and the seller."""
    return ("buyer", fill.buyer, accepted.buyer, fill.qty), ("seller", fill.seller, accepted.seller, -fill.qty)


def within_limits(
    limit: PositionLimit,
    accepted: Accepted,
    fill: Fill,
    snapshot: RegistrySnapshot,
    live: Mapping[tuple[int, str], int],
) -> Rejection | None:
    """None when neither member would breach its position limit with this fill on top of `live`."""
    for side, address, account, delta in sides(accepted, fill):
        tier = snapshot.members[address].tier
        before = live.get((account, accepted.instrument), 0)
        try:
            breach = limit(tier, accepted.instrument, before, before + delta)
        except (KeyError, ValueError) as exc:
            return Rejection(
                Reason.POSITION_LIMIT,
                f"{side} account {account}: no position limit known for tier {tier!r} in {accepted.instrument} ({exc})",
            )
        if breach is not None:
            return Rejection(Reason.POSITION_LIMIT, f"{side} account {account}: {breach.detail}")
    return None


def apply(accepted: Accepted, fill: Fill, live: LivePositions) -> None:
    """Move both members' live positions by an accepted fill (later fills of the bulk see it)."""
    for _, _, account, delta in sides(accepted, fill):
        key = (account, accepted.instrument)
        live[key] = live.get(key, 0) + delta
