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


def test_a_fork_reads_the_fills_settled_and_keeps_its_own() -> None:
    """A co-signer checks a proposal on a fork: it refuses a fill settled before the fork (or in a fork of the
    fork), and what it settles itself never reaches the checker it was forked from."""
    base = FillChecker(REGISTRY, DOMAIN)
    base.check(1, AS_OF, PublishedBatch(1, None, (signed(fill("1")),)), MEMBERS)
    fork = base.fork()
    assert (fork.registry, fork.domain, fork.checked, fork.seen, fork.before) == (REGISTRY, DOMAIN, 1, set(), base)
    assert found(fork.check, 2, AS_OF, PublishedBatch(2, None, (signed(fill("1")),)), MEMBERS)[1] == "fill-duplicate"
    fork.check(2, AS_OF, PublishedBatch(2, None, (signed(fill("2")),)), MEMBERS)
    assert fork.seen == {("dex", "2")} and fork.checked == 2
    assert base.seen == {("dex", "1")} and base.checked == 1 and not base.settled(("dex", "2"))
    deeper = fork.fork()
    assert deeper.settled(("dex", "1")) and deeper.settled(("dex", "2")) and not deeper.settled(("dex", "3"))
    fork.marked(["BTC-PERP"], 5)
    assert base.last_marked == {} and base.fork().last_marked == {}  # its marks are its own too
    # the venue-key cache is shared (a pure function of the shared registry snapshot)
    assert fork._keys is base._keys and base._keys


def test_a_new_registry_snapshot_drops_the_key_cache() -> None:
    checker = FillChecker(REGISTRY, DOMAIN)
    checker.check(1, AS_OF, PublishedBatch(1, None, (signed(fill("1")),)), MEMBERS)
    assert checker._keys
    # the venue's key replaced by another from time 0: a fill signed by the old key is no longer the venue's
    rotated = RegistryState(
        address=REGISTRY.address,
        block=2,
        venues={
            "dex": RegisteredVenue(
                "dex",
                "dex",
                OTHER_KEY.address,
                0,
                (KeyWindow(OTHER_KEY.address, 0, KEY_OPEN),),
                {"BTCUSD": SymbolMapping("BTC-PERP", 0)},
            )
        },
        instruments=REGISTRY.instruments,
        tiers={},
        params=REGISTRY.params,
    )
    checker.registry_changed(rotated)
    assert checker.registry is rotated and checker._keys == {}
    assert found(checker.check, 2, AS_OF, PublishedBatch(2, None, (signed(fill("2")),)), MEMBERS)[1] == "fill-signature"
    checker.check(3, AS_OF, PublishedBatch(3, None, (signed(fill("3"), key=OTHER_KEY),)), MEMBERS)


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


# The per-fill rules that depend on time, the key windows and the tick, each at its boundary. A second registry:
# the venue rotated its key at 5 s (OLD valid in [3 s, 5 s), NEW from 5 s), its symbol was mapped at 10 s, the
# instrument's tick is 5 from 0 s, and a fill may be 200 ms ahead of the batch's asOf or 500 ms older than the
# asOf of the last batch that marked its instrument.
OLD_KEY = Account.from_key(keccak(text="old venue key"))
NEW_KEY = Account.from_key(keccak(text="new venue key"))
TIMED = RegistryState(
    address="0x" + "33" * 20,
    block=1,
    venues={
        "dex": RegisteredVenue(
            "dex",
            "dex",
            NEW_KEY.address,
            0,
            (KeyWindow(OLD_KEY.address, 3, 5), KeyWindow(NEW_KEY.address, 5, KEY_OPEN)),
            {"BTCUSD": SymbolMapping("BTC-PERP", 10)},
        )
    },
    instruments={"BTC-PERP": RegisteredInstrument("BTC-PERP", "perp", "BTC", ((0, Terms(3, 10, 500, 3600, 1, 5)),))},
    tiers={},
    params=Params(fill_max_age_ms=500, fill_max_ahead_ms=200, min_cure_s=0),
)


def timed_fill(fid: str, ts: int, price: int = 10) -> Fill:
    return Fill(venue="dex", venue_fill_id=fid, symbol="BTCUSD", buyer=BUYER, seller=SELLER, qty=3, price=price, ts=ts)


def check_timed(checker: FillChecker, as_of: int, *fills: PublishedFill) -> None:
    checker.check(7, as_of, PublishedBatch(7, None, fills), MEMBERS)


def refused_timed(checker: FillChecker, as_of: int, p: PublishedFill) -> tuple[int | None, str, str]:
    return found(checker.check, 7, as_of, PublishedBatch(7, None, (p,)), MEMBERS)


def test_a_symbol_is_usable_from_the_asof_it_was_mapped_at() -> None:
    check_timed(FillChecker(TIMED, DOMAIN), 10, signed(timed_fill("1", 10_000), key=NEW_KEY))
    assert refused_timed(FillChecker(TIMED, DOMAIN), 9, signed(timed_fill("1", 9_000), key=NEW_KEY)) == (
        7,
        "fill-symbol",
        "fill dex/1: symbol 'BTCUSD' was mapped at 10, after asOf 9",
    )


def test_a_fill_may_be_exactly_the_maximum_ahead_of_the_asof_and_no_more() -> None:
    checker = FillChecker(TIMED, DOMAIN)
    check_timed(checker, 12, signed(timed_fill("1", 12_200), key=NEW_KEY))
    assert checker.checked == 1
    assert refused_timed(checker, 12, signed(timed_fill("2", 12_201), key=NEW_KEY)) == (
        7,
        "fill-window",
        "fill dex/2: ts 12201 is more than 200 ms after the batch's asOf 12",
    )
    assert checker.checked == 1


def test_a_fill_may_be_exactly_the_maximum_age_before_the_last_marking_batch_and_no_older() -> None:
    checker = FillChecker(TIMED, DOMAIN)
    check_timed(checker, 20, signed(timed_fill("1", 11_000), key=NEW_KEY))  # never marked: no age bound
    checker.marked(["ETH-PERP"], 30)
    check_timed(checker, 40, signed(timed_fill("2", 11_000), key=NEW_KEY))  # another instrument's marking
    checker.marked(["ETH-PERP", "BTC-PERP"], 20)
    assert checker.last_marked == {"ETH-PERP": 20, "BTC-PERP": 20}
    check_timed(checker, 40, signed(timed_fill("3", 19_500), key=NEW_KEY))
    assert refused_timed(checker, 40, signed(timed_fill("4", 19_499), key=NEW_KEY)) == (
        7,
        "fill-window",
        "fill dex/4: ts 19499 is more than 500 ms before 20, the asOf of the last batch that settled BTC-PERP",
    )
    assert checker.checked == 3


def test_the_key_is_the_one_valid_at_the_fills_second() -> None:
    checker = FillChecker(TIMED, DOMAIN)
    # 4.999 s is in the old key's window, 5.000 s in the new one's; the same second twice reads one cached key.
    check_timed(
        checker,
        10,
        signed(timed_fill("1", 4_999), key=OLD_KEY),
        signed(timed_fill("2", 4_000), key=OLD_KEY),
        signed(timed_fill("3", 4_500), key=OLD_KEY),
        signed(timed_fill("4", 5_000), key=NEW_KEY),
    )
    assert checker.checked == 4
    assert checker._keys == {
        ("dex", 4): bytes.fromhex(OLD_KEY.address[2:]),
        ("dex", 5): bytes.fromhex(NEW_KEY.address[2:]),
    }
    assert refused_timed(checker, 10, signed(timed_fill("5", 5_000), key=OLD_KEY))[2] == (
        f"fill dex/5: signed by {OLD_KEY.address}; venue dex's registered key at ts 5000 is {NEW_KEY.address}"
    )
    assert refused_timed(checker, 10, signed(timed_fill("6", 4_999), key=NEW_KEY))[2] == (
        f"fill dex/6: signed by {NEW_KEY.address}; venue dex's registered key at ts 4999 is {OLD_KEY.address}"
    )
    # Before the first window (2.999 s) the venue had no key: every signature is refused.
    assert refused_timed(checker, 10, signed(timed_fill("7", 2_999), key=OLD_KEY)) == (
        7,
        "fill-signature",
        f"fill dex/7: signed by {OLD_KEY.address}; venue dex's registered key at ts 2999 is no key",
    )
    assert checker._keys[("dex", 2)] is None


def test_a_price_off_the_tick_is_refused_and_one_on_it_passes() -> None:
    checker = FillChecker(TIMED, DOMAIN)
    check_timed(
        checker,
        10,
        signed(timed_fill("1", 9_000, price=5), key=NEW_KEY),
        signed(timed_fill("2", 9_000, price=15), key=NEW_KEY),
    )
    assert checker.checked == 2
    for fid, price in (("3", 16), ("4", 1), ("5", 14)):
        assert refused_timed(checker, 10, signed(timed_fill(fid, 9_000, price=price), key=NEW_KEY)) == (
            7,
            "fill-tick",
            f"fill dex/{fid}: price {price} is not a multiple of the tick 5",
        )
    assert checker.checked == 2


def test_no_tick_check_before_the_instruments_first_terms() -> None:
    later = RegisteredInstrument("BTC-PERP", "perp", "BTC", ((11, Terms(3, 10, 500, 3600, 1, 5)),))
    registry = RegistryState(TIMED.address, 1, TIMED.venues, {"BTC-PERP": later}, {}, TIMED.params)
    checker = FillChecker(registry, DOMAIN)
    check_timed(checker, 10, signed(timed_fill("1", 9_000, price=7), key=NEW_KEY))
    assert checker.checked == 1
    assert refused_timed(checker, 11, signed(timed_fill("2", 9_000, price=7), key=NEW_KEY))[1] == "fill-tick"
