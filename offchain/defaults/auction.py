"""Staged close-out of a defaulter's positions by auction among members (pure).

Each position the defaulter holds at DECLARE is closed in tranches: every `interval_s` a tranche of
`tranche_bps` of the position at DECLARE (rounded up, at most what is left) is auctioned. Members bid with
EIP-712 signed `Bid`s (offchain/core/bid.py). A bid is valid when its signature is the bidder's, it names
this auction, tranche and instrument, takes the opposite side of the defaulter, has not expired, comes
from an active member other than the defaulter, and its price lies within `band_bps` of the mark.
The best valid bids win (a buyer's highest price first, a seller's lowest first; ties: larger quantity,
then earlier submission), each filled at its own price up to the tranche (the last one partially).

What is not bid is closed against the house account (the operator's own member account) at the mark
moved against the defaulter by the liquidity add-on, in basis points of the defaulter's gross notional
(the close-out cost the risk engine already charged it), capped at the instrument's price band (so the
fill passes ingest's band check like any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from offchain.core.batch import BPS
from offchain.core.bid import Bid
from offchain.core.eip712 import Domain
from offchain.core.fills import Fill

AUCTION_VENUE = "crossclear-auction"


@dataclass(frozen=True)
class AuctionParams:
    tranche_bps: int = 2_500  # each tranche closes 25% of the position at DECLARE: four tranches
    interval_s: int = 300  # one tranche every 5 minutes
    band_bps: int = 300  # bids within 3% of the mark
    min_penalty_bps: int = 10  # an unbid remainder costs at least 0.1% even if the add-on is smaller

    def __post_init__(self) -> None:
        if not 0 < self.tranche_bps <= BPS or self.interval_s <= 0 or not 0 < self.band_bps <= BPS:
            raise ValueError("need 0 < tranche_bps <= 10000, interval_s > 0, 0 < band_bps <= 10000")


@dataclass(frozen=True)
class Tranche:
    auction: int
    index: int  # 0, 1, ...
    instrument: str
    defaulter: int
    defaulter_sells: bool  # the defaulter is long: it sells, bidders buy
    qty: int  # quantity on offer (> 0)
    mark: int  # the mark the band and the penalty refer to


class BidRefusal(StrEnum):
    BAD_SIGNATURE = "BAD_SIGNATURE"
    WRONG_TRANCHE = "WRONG_TRANCHE"
    WRONG_SIDE = "WRONG_SIDE"
    EXPIRED = "EXPIRED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    OUT_OF_BAND = "OUT_OF_BAND"


@dataclass(frozen=True)
class Award:
    bid_index: int  # position in the submitted list
    account: int
    qty: int
    price: int


@dataclass(frozen=True)
class TrancheResult:
    tranche: Tranche
    awards: tuple[Award, ...]
    refused: tuple[tuple[int, BidRefusal], ...]
    residual_qty: int  # closed against the house
    residual_price: int

    @property
    def bid_qty(self) -> int:
        return sum(a.qty for a in self.awards)


def tranche_qty(at_declare: int, remaining: int, tranche_bps: int) -> int:
    """ceil(|position at DECLARE| × tranche_bps / 10000), at most |remaining|."""
    return min(abs(remaining), -(-abs(at_declare) * tranche_bps // BPS))


def penalty_bps(liquidity_addon: int, gross_notional: int, params: AuctionParams, cap_bps: int) -> int:
    """The unbid remainder's price penalty: the liquidity add-on over the gross notional, rounded up,
    at least `min_penalty_bps`, at most `cap_bps` (the instrument's band)."""
    raw = -(-liquidity_addon * BPS // gross_notional) if gross_notional > 0 else 0
    return min(max(raw, params.min_penalty_bps), cap_bps)


def in_band(price: int, mark: int, band_bps: int) -> bool:
    return abs(price - mark) * BPS <= band_bps * mark


def clear_tranche(
    tranche: Tranche,
    bids: Sequence[tuple[Bid, bytes]],
    domain: Domain,
    now: int,
    eligible: Mapping[str, int],
    params: AuctionParams,
    penalty: int,
) -> TrancheResult:
    """Winners of one tranche and the remainder for the house.

    Args:
        bids: (bid, signature) in submission order.
        now: chain seconds (bids with expiry < now are refused).
        eligible: checksummed address -> account of members allowed to bid (active, not the defaulter).
        penalty: basis points the remainder's price moves against the defaulter (see `penalty_bps`).
    """
    valid: list[tuple[int, Bid, int]] = []
    refused: list[tuple[int, BidRefusal]] = []
    for i, (bid, sig) in enumerate(bids):
        reason: BidRefusal | None = None
        if not bid.verify(sig, domain):
            reason = BidRefusal.BAD_SIGNATURE
        elif (bid.auction, bid.tranche, bid.instrument) != (tranche.auction, tranche.index, tranche.instrument):
            reason = BidRefusal.WRONG_TRANCHE
        elif bid.buy != tranche.defaulter_sells:
            reason = BidRefusal.WRONG_SIDE
        elif bid.expiry < now:
            reason = BidRefusal.EXPIRED
        elif eligible.get(bid.bidder) in (None, tranche.defaulter):
            reason = BidRefusal.NOT_ELIGIBLE
        elif not in_band(bid.price, tranche.mark, params.band_bps):
            reason = BidRefusal.OUT_OF_BAND
        if reason is None:
            valid.append((i, bid, eligible[bid.bidder]))
        else:
            refused.append((i, reason))
    sign = -1 if tranche.defaulter_sells else 1  # buyers: highest price first; sellers: lowest first
    valid.sort(key=lambda v: (sign * v[1].price, -v[1].qty, v[0]))
    left = tranche.qty
    awards: list[Award] = []
    for i, bid, account in valid:
        if left == 0:
            break
        q = min(left, bid.qty)
        awards.append(Award(i, account, q, bid.price))
        left -= q
    if tranche.defaulter_sells:  # the defaulter sells the rest to the house below the mark (rounded down)
        residual_price = tranche.mark * (BPS - penalty) // BPS
    else:  # it buys the rest from the house above the mark (rounded up)
        residual_price = -(-tranche.mark * (BPS + penalty) // BPS)
    return TrancheResult(tranche, tuple(awards), tuple(refused), left, residual_price)


def result_fills(
    result: TrancheResult,
    addresses: Mapping[int, str],
    house: int,
    ts_ms: int,
    venue: str = AUCTION_VENUE,
) -> list[Fill]:
    """The tranche's trades as fills of the auction venue (signed by its key, then ingested as usual).
    `venue_fill_id` = a{auction}-t{tranche}-{n}: resubmitting a tranche is idempotent at ingest."""
    t = result.tranche
    trades = [(a.account, a.qty, a.price) for a in result.awards]
    if result.residual_qty:
        trades.append((house, result.residual_qty, result.residual_price))
    out = []
    for n, (counterparty, qty, price) in enumerate(trades):
        buyer, seller = (counterparty, t.defaulter) if t.defaulter_sells else (t.defaulter, counterparty)
        out.append(
            Fill(
                venue=venue,
                venue_fill_id=f"a{t.auction}-t{t.index}-{n}",
                symbol=t.instrument,
                buyer=addresses[buyer],
                seller=addresses[seller],
                qty=qty,
                price=price,
                ts=ts_ms,
            )
        )
    return out
