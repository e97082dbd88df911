"""The close-out auction, exactly: parameter defaults and bounds, tranche sizes, penalties and the band at
their boundaries, every refusal in its order, the ranking's tie-breaks and the house's rounded price."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak

from offchain.core.bid import Bid, auctions_domain
from offchain.defaults.auction import (
    AUCTION_VENUE,
    AuctionParams,
    Award,
    BidRefusal,
    Tranche,
    clear_tranche,
    in_band,
    penalty_bps,
    result_fills,
    tranche_qty,
)

DOMAIN = auctions_domain(31337, "0x" + "11" * 20)
KEYS = [Account.from_key(keccak(text=f"bidder {i}")) for i in range(4)]
ELIGIBLE = {str(k.address): 10 + i for i, k in enumerate(KEYS)}
DEFAULTER, HOUSE, MARK = 7, 4, 10_000
P = AuctionParams()


def bid(k: int, price: int, qty: int = 10, *, buy: bool = True, expiry: int = 2_000, **kw: object) -> tuple[Bid, bytes]:
    fields: dict[str, object] = {"auction": 1, "tranche": 0, "instrument": "BTC", "buy": buy, "qty": qty}
    fields.update(kw)
    b = Bid(price=price, bidder=KEYS[k].address, expiry=expiry, **fields)  # type: ignore[arg-type]
    return b, bytes(Account.unsafe_sign_hash(b.digest(DOMAIN), KEYS[k].key).signature)


def tranche(qty: int = 20, sells: bool = True, mark: int = MARK) -> Tranche:
    return Tranche(1, 0, "BTC", DEFAULTER, sells, qty, mark)


def clear(bids: list[tuple[Bid, bytes]], t: Tranche | None = None, penalty: int = 33, now: int = 1_000) -> object:
    return clear_tranche(t or tranche(), bids, DOMAIN, now, ELIGIBLE, P, penalty)


def test_parameter_defaults() -> None:
    assert (P.tranche_bps, P.interval_s, P.band_bps, P.min_penalty_bps) == (2_500, 300, 300, 10)


@pytest.mark.parametrize(
    "kw", [{"tranche_bps": 0}, {"tranche_bps": 10_001}, {"interval_s": 0}, {"band_bps": 0}, {"band_bps": 10_001}]
)
def test_parameters_out_of_bounds_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="tranche_bps"):
        AuctionParams(**kw)


def test_parameters_at_their_bounds_are_accepted() -> None:
    for kw in ({"tranche_bps": 1}, {"tranche_bps": 10_000}, {"interval_s": 1}, {"band_bps": 1}, {"band_bps": 10_000}):
        assert AuctionParams(**kw)


def test_tranche_quantity_rounds_up_and_uses_magnitudes() -> None:
    assert tranche_qty(3, 3, 5_000) == 2  # 1.5 → 2
    assert tranche_qty(-10, -10, 5_000) == 5
    assert tranche_qty(-10, -3, 5_000) == 3
    assert tranche_qty(4, 4, 2_500) == 1
    assert tranche_qty(10, 10, 10_000) == 10


def test_penalty_is_the_addon_share_rounded_up_between_the_minimum_and_the_cap() -> None:
    assert penalty_bps(1_001, 100_000, P, 500) == 101  # 100.1 → 101
    assert penalty_bps(11, 10_000, P, 500) == 11
    assert penalty_bps(10, 10_000, P, 500) == 10
    assert penalty_bps(1, 10_000, P, 500) == 10  # below the minimum
    assert penalty_bps(5, 0, P, 500) == 10  # no notional: the minimum
    assert penalty_bps(500, 10_000, P, 500) == 500 and penalty_bps(501, 10_000, P, 500) == 500
    assert penalty_bps(0, 0, P, 5) == 5  # a band below the minimum still caps it


def test_the_band_includes_its_edges() -> None:
    assert in_band(10_300, MARK, 300) and in_band(9_700, MARK, 300) and in_band(MARK, MARK, 300)
    assert not in_band(10_301, MARK, 300) and not in_band(9_699, MARK, 300)


def test_each_refusal_in_its_order() -> None:
    other = Account.from_key(keccak(text="forger"))
    forged_bid, _ = bid(0, MARK)
    forged = (forged_bid, bytes(Account.unsafe_sign_hash(forged_bid.digest(DOMAIN), other.key).signature))
    outsider = Account.from_key(keccak(text="outsider"))
    out_bid = Bid(
        auction=1, tranche=0, instrument="BTC", buy=True, qty=1, price=MARK, bidder=outsider.address, expiry=2_000
    )
    outsider_signed = (out_bid, bytes(Account.unsafe_sign_hash(out_bid.digest(DOMAIN), outsider.key).signature))
    bids = [
        forged,
        bid(1, MARK, auction=2),
        bid(1, MARK, tranche=1),
        bid(1, MARK, instrument="ETH"),
        bid(1, MARK, buy=False, expiry=1),  # the wrong side is reported before the expiry
        bid(1, MARK, expiry=999),
        outsider_signed,
        bid(2, 10_301),
        bid(2, 9_699),
        bid(3, MARK, expiry=1_000),  # expiring now is still valid
    ]
    r = clear(bids)
    assert r.refused == (  # type: ignore[attr-defined]
        (0, BidRefusal.BAD_SIGNATURE),
        (1, BidRefusal.WRONG_TRANCHE),
        (2, BidRefusal.WRONG_TRANCHE),
        (3, BidRefusal.WRONG_TRANCHE),
        (4, BidRefusal.WRONG_SIDE),
        (5, BidRefusal.EXPIRED),
        (6, BidRefusal.NOT_ELIGIBLE),
        (7, BidRefusal.OUT_OF_BAND),
        (8, BidRefusal.OUT_OF_BAND),
    )
    assert r.awards == (Award(9, 13, 10, MARK),)  # type: ignore[attr-defined]


def test_the_defaulter_itself_may_not_bid() -> None:
    eligible = {**ELIGIBLE, str(KEYS[0].address): DEFAULTER}
    r = clear_tranche(tranche(), [bid(0, MARK)], DOMAIN, 1_000, eligible, P, 33)
    assert r.refused == ((0, BidRefusal.NOT_ELIGIBLE),) and r.awards == ()


def test_buyers_rank_by_price_then_quantity_then_submission() -> None:
    bids = [bid(0, 10_100, 5), bid(1, 10_200, 5), bid(2, 10_100, 8), bid(3, 10_100, 5)]
    r = clear(bids, tranche(20))
    assert r.awards == (  # type: ignore[attr-defined]
        Award(1, 11, 5, 10_200),
        Award(2, 12, 8, 10_100),
        Award(0, 10, 5, 10_100),
        Award(3, 13, 2, 10_100),  # the last one partially
    )
    assert r.residual_qty == 0 and r.bid_qty == 20  # type: ignore[attr-defined]


def test_sellers_rank_lowest_first_and_later_bids_get_nothing_once_filled() -> None:
    bids = [bid(0, 10_050, 5, buy=False), bid(1, 9_950, 5, buy=False), bid(2, 10_000, 5, buy=False)]
    r = clear(bids, tranche(10, sells=False))
    assert r.awards == (Award(1, 11, 5, 9_950), Award(2, 12, 5, 10_000))  # type: ignore[attr-defined]
    assert r.residual_qty == 0  # type: ignore[attr-defined]


def test_the_house_takes_the_rest_at_the_mark_moved_against_the_defaulter_rounded_for_the_house() -> None:
    sells = clear([bid(0, MARK, 3)], tranche(10, True, 10_001), penalty=33)
    assert sells.residual_qty == 7 and sells.residual_price == 9_967  # type: ignore[attr-defined]  # 9,967.997 ↓
    buys = clear([], tranche(10, False, 10_001), penalty=33)
    assert buys.residual_qty == 10 and buys.residual_price == 10_035  # type: ignore[attr-defined]  # 10,034.003 ↑
    assert buys.bid_qty == 0  # type: ignore[attr-defined]


def test_result_fills_orient_each_trade_and_number_them() -> None:
    addresses = {10: "0x" + "0a" * 20, 11: "0x" + "0b" * 20, DEFAULTER: "0x" + "07" * 20, HOUSE: "0x" + "04" * 20}
    r = clear_tranche(tranche(10), [bid(0, 10_100, 4), bid(1, 10_000, 4)], DOMAIN, 1_000, ELIGIBLE, P, 33)
    fills = result_fills(r, addresses, HOUSE, 5_000)
    assert [(f.venue, f.venue_fill_id, f.qty, f.price, f.ts) for f in fills] == [
        (AUCTION_VENUE, "a1-t0-0", 4, 10_100, 5_000),
        (AUCTION_VENUE, "a1-t0-1", 4, 10_000, 5_000),
        (AUCTION_VENUE, "a1-t0-2", 2, 9_967, 5_000),
    ]
    assert [(f.buyer.lower(), f.seller.lower()) for f in fills] == [
        (addresses[10], addresses[DEFAULTER]),
        (addresses[11], addresses[DEFAULTER]),
        (addresses[HOUSE], addresses[DEFAULTER]),
    ]
    short = clear_tranche(tranche(4, sells=False), [bid(0, 10_000, 4, buy=False)], DOMAIN, 1_000, ELIGIBLE, P, 33)
    (only,) = result_fills(short, addresses, HOUSE, 1, venue="v")
    assert (only.venue, only.buyer.lower(), only.seller.lower()) == ("v", addresses[DEFAULTER], addresses[10])


def test_a_one_unit_notional_and_a_zero_minimum_penalty() -> None:
    assert penalty_bps(1, 1, P, 500) == 500  # 10000 bps of a 1-unit notional, capped at the band
    free = AuctionParams(min_penalty_bps=0)
    assert penalty_bps(5, 0, free, 500) == 0  # no notional and no minimum: no penalty
    assert penalty_bps(0, 10, free, 500) == 0


def test_equal_bids_go_to_the_earlier_submission_whatever_the_account() -> None:
    r = clear([bid(3, 10_100, 5), bid(0, 10_100, 5)], tranche(5))
    assert r.awards == (Award(0, 13, 5, 10_100),)  # type: ignore[attr-defined]
