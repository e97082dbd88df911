"""A ledger with a defaulted member under close-out auction (shared by tests/api/test_auctions.py and the
schemathesis run): default 1 of account 12, its tranche 0 cleared (BOB won part, the house took the rest)
and tranche 1 open, both on BTC-USD-PERP with the defaulter selling."""

from __future__ import annotations

from collections.abc import Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert

from offchain.core.bid import Bid, auctions_domain
from offchain.defaults.auction import AuctionParams
from offchain.defaults.house import AuctionHouse
from offchain.ingest import registry
from offchain.ingest.service import Ingestor
from offchain.ledger import schema as t
from tests.api.conftest import BOB, BTC_MARK, CHAIN_ID, FILLS_DOMAIN, NOW_MS, VAULT

AUCTIONS_DOMAIN = auctions_domain(CHAIN_ID, VAULT)
AUCTION_KEY: LocalAccount = Account.from_key("0x" + "5a" * 32)
DEFAULTER, HOUSE = 12, 3
PARAMS = AuctionParams(tranche_bps=2_500, interval_s=300, band_bps=300)
OPENED_AT = NOW_MS // 1000 - 60  # tranche 1, chain seconds
TRANCHE_QTY = 50_000_000
WON_QTY = 30_000_000
WON_PRICE = BTC_MARK - 100 * 10**6
RESIDUAL_PRICE = BTC_MARK * 9_950 // 10_000


def seed_auction(engine: Engine) -> None:
    with engine.begin() as conn:
        registry.admit_member(
            conn, DEFAULTER, "0x" + "44" * 20, "thin", "hedge_fund", "tier1", "buy_side", created_ms=NOW_MS
        )
        registry.grant(conn, DEFAULTER, "BTC-USD-PERP")
        registry.set_member_status(conn, DEFAULTER, "defaulted")
        default_id = conn.execute(
            insert(t.defaults)
            .values(
                account=DEFAULTER,
                status="declared",
                declared_sequence=1,
                declared_at=OPENED_AT - 600,
                positions={"BTC-USD-PERP": "200000000"},
                penalty_bps=50,
                pool_value=0,
                pool_shares=0,
                covered=0,
            )
            .returning(t.defaults.c.id)
        ).scalar_one()
        assert default_id == 1
        common = {"default_id": 1, "instrument": "BTC-USD-PERP", "defaulter_sells": True, "qty": TRANCHE_QTY}
        conn.execute(
            insert(t.auction_tranches).values(
                **common,
                tranche=0,
                mark=BTC_MARK,
                opened_at=OPENED_AT - PARAMS.interval_s,
                status="cleared",
                bid_qty=WON_QTY,
                residual_qty=TRANCHE_QTY - WON_QTY,
                residual_price=RESIDUAL_PRICE,
            )
        )
        conn.execute(
            insert(t.auction_tranches).values(**common, tranche=1, mark=BTC_MARK, opened_at=OPENED_AT, status="open")
        )
        conn.execute(
            insert(t.auction_bids).values(
                default_id=1,
                instrument="BTC-USD-PERP",
                tranche=0,
                bidder=BOB.address,
                buy=True,
                qty=WON_QTY,
                price=WON_PRICE,
                expiry=OPENED_AT + 3600,
                signature=b"\x01" * 65,
                received_ms=NOW_MS - 400_000,
                outcome="won",
                filled_qty=WON_QTY,
            )
        )


def house_factory(clock_ms: Callable[[], int]) -> Callable[[Engine, Ingestor], AuctionHouse]:
    """What `create_app(auction_house=...)` takes: chain seconds from the API's clock."""

    def build(engine: Engine, ingest: Ingestor) -> AuctionHouse:
        return AuctionHouse(
            engine,
            ingest,
            "0x" + bytes(AUCTION_KEY.key).hex(),
            FILLS_DOMAIN,
            AUCTIONS_DOMAIN,
            HOUSE,
            PARAMS,
            clock=lambda: clock_ms() // 1000,
            fill_clock_ms=clock_ms,
        )

    return build


def sign_bid(bid: Bid, key: LocalAccount) -> str:
    return "0x" + bytes(Account.unsafe_sign_hash(bid.digest(AUCTIONS_DOMAIN), key.key).signature).hex()


def bid_json(bid: Bid, key: LocalAccount) -> dict[str, object]:
    b = bid.model_dump()
    b["qty"], b["price"] = str(b["qty"]), str(b["price"])
    return {"bid": b, "signature": sign_bid(bid, key)}
