"""The auditor's commitment and fill checks (offchain/audit/checks/commitments.py) on published batches built
by hand: context hash, fills root, and each fill's uniqueness, venue, symbol, members and venue signature."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from offchain.audit.checks.commitments import ZERO32, FillChecker, check_commitments
from offchain.audit.errors import Discrepancy
from offchain.audit.published import PublishedBatch, PublishedFill
from offchain.chain.registry import (
    KEY_OPEN,
    KeyWindow,
    Params,
    RegisteredInstrument,
    RegisteredVenue,
    RegistryState,
    SymbolMapping,
    Terms,
)
from offchain.core.batch import Batch
from offchain.core.eip712 import Domain
from offchain.core.fills import Fill
from offchain.core.merkle import root_of

DOMAIN = Domain("crossclear-fills", "1", 31337, "0x" + "22" * 20)
VENUE_KEY = Account.from_key(keccak(text="venue key"))
OTHER_KEY = Account.from_key(keccak(text="someone else"))
BUYER: str = to_checksum_address("0x" + "aa" * 20)
SELLER: str = to_checksum_address("0x" + "bb" * 20)
MEMBERS: dict[str, int] = {BUYER: 4, SELLER: 5}
# The trust anchors as the registry holds them (never the published header): one venue with one key valid
# from time 0, its symbol mapped at time 0, the instrument's terms with a tick of 1.
REGISTRY = RegistryState(
    address="0x" + "33" * 20,
    block=1,
    venues={
        "dex": RegisteredVenue(
            "dex",
            "dex",
            VENUE_KEY.address,
            0,
            (KeyWindow(VENUE_KEY.address, 0, KEY_OPEN),),
            {"BTCUSD": SymbolMapping("BTC-PERP", 0)},
        )
    },
    instruments={"BTC-PERP": RegisteredInstrument("BTC-PERP", "perp", "BTC", ((0, Terms(3, 10, 500, 3600, 1, 1)),))},
    tiers={},
    params=Params(fill_max_age_ms=10**12, fill_max_ahead_ms=10**12, min_cure_s=0),
)
AS_OF = 1


def fill(fid: str, venue: str = "dex", symbol: str = "BTCUSD", buyer: str = BUYER) -> Fill:
    return Fill(venue=venue, venue_fill_id=fid, symbol=symbol, buyer=buyer, seller=SELLER, qty=3, price=7, ts=9)


def signed(f: Fill, instrument: str = "BTC-PERP", key: object = VENUE_KEY) -> PublishedFill:
    sig = bytes(Account.unsafe_sign_hash(f.digest(DOMAIN), key.key).signature)  # type: ignore[attr-defined]
    return PublishedFill(f, instrument, sig)


def batch(seq: int, fills: tuple[PublishedFill, ...] = (), context: str | None = None) -> Batch:
    return Batch(
        sequence=seq,
        prev_hash=ZERO32,
        as_of=1,
        fills_root=root_of([p.fill.leaf() for p in fills]),
        context_hash=keccak(context.encode()) if context is not None else ZERO32,
    )


def found(fn: object, *args: object) -> tuple[int | None, str, str]:
    with pytest.raises(Discrepancy) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value.sequence, exc.value.check, exc.value.detail


def test_a_batch_matches_its_published_line_context_and_fills() -> None:
    fills = (signed(fill("1")), signed(fill("2")))
    check_commitments(batch(3, fills, '{"marks":{}}'), PublishedBatch(3, '{"marks":{}}', fills))
    check_commitments(batch(4), PublishedBatch(4, None, ()))  # no context, no fills: both zero


def test_each_commitment_names_what_differs() -> None:
    fills = (signed(fill("1")), signed(fill("2")))
    b = batch(3, fills, "ctx")
    assert found(check_commitments, b, PublishedBatch(4, "ctx", fills))[1:] == (
        "published",
        "the fills file's next line is batch 4, not 3",
    )
    assert found(check_commitments, b, PublishedBatch(3, "other", fills))[:2] == (3, "context-hash")
    assert found(check_commitments, b, PublishedBatch(3, None, fills))[1] == "context-hash"
    assert found(check_commitments, batch(3, fills), PublishedBatch(3, "", fills))[1] == "context-hash"
    dropped = found(check_commitments, b, PublishedBatch(3, "ctx", fills[:1]))
    assert dropped[1] == "fills-root" and dropped[2].startswith("Merkle root of the 1 published fills is 0x")


def test_fills_pass_once_and_are_counted() -> None:
    checker = FillChecker(REGISTRY, DOMAIN)
    checker.check(1, AS_OF, PublishedBatch(1, None, (signed(fill("1")), signed(fill("2")))), MEMBERS)
    checker.check(2, AS_OF, PublishedBatch(2, None, (signed(fill("3")),)), MEMBERS)
    assert checker.checked == 3 and checker.seen == {("dex", "1"), ("dex", "2"), ("dex", "3")}
    assert found(checker.check, 3, AS_OF, PublishedBatch(3, None, (signed(fill("2")),)), MEMBERS) == (
        3,
        "fill-duplicate",
        "fill dex/2 was already settled in an earlier batch",
    )


def test_each_fill_rule_in_turn() -> None:
    def one(p: PublishedFill) -> tuple[int | None, str, str]:
        return found(FillChecker(REGISTRY, DOMAIN).check, 5, AS_OF, PublishedBatch(5, None, (p,)), MEMBERS)

    assert one(signed(fill("1", venue="cex"))) == (
        5,
        "fill-venue",
        "fill cex/1: venue 'cex' is not in the registry",
    )
    assert one(signed(fill("1"), instrument="ETH-PERP"))[1:] == (
        "fill-symbol",
        "fill dex/1: the registry maps symbol 'BTCUSD' to 'BTC-PERP', published as 'ETH-PERP'",
    )
    assert (
        one(signed(fill("1", symbol="ETHUSD")))[2]
        == "fill dex/1: the registry maps symbol 'ETHUSD' to None, published as 'BTC-PERP'"
    )
    stranger = to_checksum_address("0x" + "cc" * 20)
    assert one(signed(fill("1", buyer=stranger)))[1:] == (
        "fill-member",
        f"fill dex/1: buyer {stranger} is not an admitted member",
    )
    forged = one(signed(fill("1"), key=OTHER_KEY))
    assert forged[1] == "fill-signature" and forged[2] == (
        f"fill dex/1: signed by {OTHER_KEY.address}; venue dex's registered key at ts 9 is {VENUE_KEY.address}"
    )
    short = PublishedFill(fill("1"), "BTC-PERP", signed(fill("1")).signature[:64])
    bad = one(short)
    assert bad[1] == "fill-signature" and bad[2].startswith("fill dex/1: venue signature is invalid")


def test_a_seller_outside_the_members_is_refused_too() -> None:
    members: dict[str, int] = {BUYER: 4}
    with pytest.raises(Discrepancy) as exc:
        FillChecker(REGISTRY, DOMAIN).check(5, AS_OF, PublishedBatch(5, None, (signed(fill("1")),)), members)
    assert exc.value.detail == f"fill dex/1: seller {SELLER} is not an admitted member"
