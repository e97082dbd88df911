"""The close-out auction (offchain/defaults/auction.py) and the signed Bid type (offchain/core/bid.py)."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from offchain.core.bid import Bid, auctions_domain
from offchain.defaults.auction import (
    AUCTION_VENUE,
    AuctionParams,
    BidRefusal,
    Tranche,
    clear_tranche,
    penalty_bps,
    result_fills,
    tranche_qty,
)

DOMAIN = auctions_domain(31337, "0x" + "11" * 20)
KEYS = [Account.create() for _ in range(4)]
ACCOUNTS = {str(k.address): 10 + i for i, k in enumerate(KEYS)}
DEFAULTER, HOUSE = 7, 4
MARK = 20_000 * 10**6
QTY = 10**8
P = AuctionParams(tranche_bps=2_500, interval_s=300, band_bps=300)


def signed(
    k: int, price: int, qty: int = QTY, *, buy: bool = True, tranche: int = 0, expiry: int = 2_000
) -> tuple[Bid, bytes]:
    bid = Bid(
        auction=1,
        tranche=tranche,
        instrument="BTC-USD-PERP",
        buy=buy,
        qty=qty,
        price=price,
        bidder=KEYS[k].address,
        expiry=expiry,
    )
    return bid, bytes(Account.unsafe_sign_hash(bid.digest(DOMAIN), KEYS[k].key).signature)


def tranche(qty: int = 2 * QTY, sells: bool = True) -> Tranche:
    return Tranche(1, 0, "BTC-USD-PERP", DEFAULTER, sells, qty, MARK)


def test_bid_digest_matches_eth_accounts_eip712_encoder() -> None:
    bid, sig = signed(0, MARK)
    assert encode_typed_data(full_message=bid.typed_data(DOMAIN)).body == bid.struct_hash()
    assert bytes(Account.sign_typed_data(KEYS[0].key, full_message=bid.typed_data(DOMAIN)).signature) == sig
    assert bid.verify(sig, DOMAIN)
    assert not bid.verify(sig, auctions_domain(1, "0x" + "11" * 20))  # another chain: another digest


def test_best_bids_in_band_win_and_the_rest_goes_to_the_house_at_the_penalty() -> None:
    bids = [
        signed(0, MARK - 100 * 10**6, QTY),  # 19,900
        signed(1, MARK - 50 * 10**6, QTY // 2),  # 19,950: best
        signed(2, MARK - 700 * 10**6, QTY),  # 19,300: 3.5% below, out of band
        signed(3, MARK, QTY, buy=False),  # wrong side
    ]
    r = clear_tranche(tranche(), bids, DOMAIN, 1_000, ACCOUNTS, P, penalty=50)
    assert [(a.account, a.qty, a.price) for a in r.awards] == [
        (11, QTY // 2, MARK - 50 * 10**6),
        (10, QTY, MARK - 100 * 10**6),
    ]
    assert dict(r.refused) == {2: BidRefusal.OUT_OF_BAND, 3: BidRefusal.WRONG_SIDE}
    assert r.residual_qty == QTY // 2 and r.residual_price == MARK * 9_950 // 10_000
    addresses = {v: k for k, v in ACCOUNTS.items()} | {DEFAULTER: "0x" + "07" * 20, HOUSE: "0x" + "04" * 20}
    fills = result_fills(r, addresses, HOUSE, 1_000_000)
    assert [f.venue_fill_id for f in fills] == ["a1-t0-0", "a1-t0-1", "a1-t0-2"]
    assert all(f.venue == AUCTION_VENUE and f.seller.lower() == "0x" + "07" * 20 for f in fills)
    assert sum(f.qty for f in fills) == 2 * QTY  # the whole tranche closes


def test_bids_are_refused_for_bad_signature_expiry_eligibility_and_tranche() -> None:
    good, sig = signed(0, MARK)
    forged = signed(1, MARK)[1]
    defaulter_addr = str(KEYS[3].address)
    eligible = {**ACCOUNTS, defaulter_addr: DEFAULTER}
    bids = [(good, forged), signed(0, MARK, expiry=999), signed(3, MARK), signed(0, MARK, tranche=1), (good, sig)]
    r = clear_tranche(tranche(QTY), bids, DOMAIN, 1_000, eligible, P, penalty=50)
    assert [x[1] for x in r.refused] == [
        BidRefusal.BAD_SIGNATURE,
        BidRefusal.EXPIRED,
        BidRefusal.NOT_ELIGIBLE,
        BidRefusal.WRONG_TRANCHE,
    ]
    assert [(a.bid_index, a.qty) for a in r.awards] == [(4, QTY)] and r.residual_qty == 0


def test_a_short_defaulter_buys_back_from_the_lowest_sellers_then_from_the_house_above_the_mark() -> None:
    bids = [signed(0, MARK + 10, QTY, buy=False), signed(1, MARK + 5, QTY // 4, buy=False)]
    r = clear_tranche(tranche(2 * QTY, sells=False), bids, DOMAIN, 1_000, ACCOUNTS, P, penalty=33)
    assert [(a.account, a.price) for a in r.awards] == [(11, MARK + 5), (10, MARK + 10)]
    assert r.residual_qty == 3 * QTY // 4 and r.residual_price == -(-MARK * 10_033 // 10_000)


def test_tranche_size_and_penalty() -> None:
    assert tranche_qty(10 * QTY + 1, 10 * QTY + 1, 2_500) == 250_000_001  # rounded up
    assert tranche_qty(10 * QTY, QTY, 2_500) == QTY  # never more than what is left
    assert penalty_bps(1_000, 1_000_000, P, 500) == 10  # 0.1%
    assert penalty_bps(1, 10**12, P, 500) == P.min_penalty_bps
    assert penalty_bps(10**9, 10**9, P, 500) == 500  # capped at the instrument band
