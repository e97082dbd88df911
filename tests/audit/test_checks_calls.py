"""The auditor's margin-call, declaration and close-out rules (offchain/audit/checks/calls.py) on replays and
batches built by hand: each rule at its boundary (equity equal to MM or IM, a deadline exactly the minimum
cure after the opening batch, a close-out to exactly zero or exactly at the band's edge)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from offchain.audit.checks.calls import CallChecker, check_close_outs, haircut_equity
from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord
from offchain.audit.events.replay import AssetMark, VaultReplay
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
from offchain.core.batch import ASSESS, CLOSE, COVER, DECLARE, Batch, DefaultAction, MarginCall
from offchain.core.context import BatchContext
from offchain.core.fills import Fill

ZERO32 = b"\x00" * 32
A, B, C = 4, 5, 6


def test_haircut_equity_floors_each_asset_and_subtracts_the_debt() -> None:
    replay = VaultReplay()
    replay.marks[0] = AssetMark(1_000_000, 0, 6)  # 1.000000 per whole token of 6 decimals: 1 unit = 1 unit
    replay.marks[1] = AssetMark(3_000_000, 2500, 8)  # 3 per token of 8 decimals, 25 % haircut
    replay.marks[2] = AssetMark(0, 0, 0)  # no price: worth nothing
    replay.balances[(A, 0)] = 7
    # 12345679 × 3000000 × 7500 / (10**8 × 10**4) = 277777.7775: floored to 277777.
    replay.balances[(A, 1)] = 12_345_679
    replay.balances[(A, 2)] = 10**9
    replay.balances[(B, 1)] = 12_345_679
    replay.debt[A] = 5
    assert haircut_equity(replay, A) == 7 + 277_777 - 5
    assert haircut_equity(replay, B) == 277_777
    assert haircut_equity(replay, C) == 0
    replay.debt[C] = 9
    assert haircut_equity(replay, C) == -9
    # One base unit counts: 1 unit of a 0-decimal token marked at 10 is worth 10.
    one = VaultReplay()
    one.marks[0] = AssetMark(10, 0, 0)
    one.balances[(A, 0)] = 1
    assert haircut_equity(one, A) == 10


def replay_with(account: int, equity: int, debt: int, im: int, mm: int) -> VaultReplay:
    """A replay where `account` has `equity` (before its debt) in asset 0 at a 1:1 mark."""
    r = VaultReplay()
    r.marks[0] = AssetMark(1, 0, 0)
    r.balances[(account, 0)] = equity + debt
    r.debt[account] = debt
    r.requirements[account] = (im, mm)
    return r


def calls_batch(seq: int, as_of: int, *rows: MarginCall | DefaultAction) -> Batch:
    return Batch(
        sequence=seq,
        prev_hash=ZERO32,
        as_of=as_of,
        margin_calls=tuple(r for r in rows if isinstance(r, MarginCall)),
        default_actions=tuple(r for r in rows if isinstance(r, DefaultAction)),
    )


def call(account: int, deadline: int, amount: int = 10) -> MarginCall:
    return MarginCall(account=account, deadline=deadline, amount=amount)


def refused(checker: CallChecker, b: Batch, replay: VaultReplay) -> tuple[int | None, str, str]:
    with pytest.raises(Discrepancy) as exc:
        checker.check_calls(b, replay)
    return exc.value.sequence, exc.value.check, exc.value.detail


def test_a_new_call_needs_equity_below_mm_or_a_debt() -> None:
    checker = CallChecker(min_cure_s=60)
    checker.check_calls(calls_batch(3, 100, call(A, 160)), replay_with(A, 49, 0, 80, 50))
    assert checker.opened == {A: (3, 100)}
    checker = CallChecker(min_cure_s=60)
    checker.check_calls(calls_batch(3, 100, call(A, 160)), replay_with(A, 1000, 1, 80, 50))  # an advance
    assert checker.opened == {A: (3, 100)}
    assert refused(CallChecker(60), calls_batch(3, 100, call(A, 160)), replay_with(A, 50, 0, 80, 50)) == (
        3,
        "margin-call",
        "account 4 is called for 10 though it is not in breach (equity 50, debt 0, IM 80, MM 50)",
    )
    # An account the replay has never seen in debt has none: not in breach at equity = MM.
    r = replay_with(A, 50, 0, 80, 50)
    del r.debt[A]
    assert refused(CallChecker(60), calls_batch(3, 100, call(A, 160)), r)[2] == (
        "account 4 is called for 10 though it is not in breach (equity 50, debt 0, IM 80, MM 50)"
    )
    # No requirement posted: IM = MM = 0, so only a negative equity or a debt is a breach.
    r = replay_with(A, 0, 0, 0, 0)
    del r.requirements[A]
    assert refused(CallChecker(60), calls_batch(3, 100, call(A, 160)), r)[2] == (
        "account 4 is called for 10 though it is not in breach (equity 0, debt 0, IM 0, MM 0)"
    )


def test_a_cure_row_is_not_a_call() -> None:
    checker = CallChecker(min_cure_s=60)
    checker.check_calls(calls_batch(3, 100, call(A, 0, amount=0)), replay_with(A, 1000, 0, 80, 50))
    assert checker.opened == {}


def test_a_reposted_call_needs_equity_below_im_or_a_debt_and_keeps_its_opening() -> None:
    checker = CallChecker(min_cure_s=60)
    checker.check_calls(calls_batch(3, 100, call(A, 160)), replay_with(A, 40, 0, 80, 50))
    # Between MM and IM: still uncured, the call stands (and keeps the opening batch's asOf for its deadline).
    checker.check_calls(calls_batch(4, 130, call(A, 160, amount=20)), replay_with(A, 79, 0, 80, 50))
    checker.check_calls(calls_batch(5, 140, call(A, 160, amount=20)), replay_with(A, 500, 3, 80, 50))
    assert checker.opened == {A: (3, 100)}
    assert refused(checker, calls_batch(6, 150, call(A, 160)), replay_with(A, 80, 0, 80, 50)) == (
        6,
        "margin-call",
        "account 4's call is re-posted though it has cured (equity 80, debt 0, IM 80, MM 50)",
    )


def test_a_deadline_is_at_least_the_minimum_cure_after_the_opening_batch() -> None:
    checker = CallChecker(min_cure_s=60)
    assert refused(checker, calls_batch(3, 100, call(A, 159)), replay_with(A, 0, 1, 80, 50)) == (
        3,
        "margin-call",
        "account 4's call has deadline 159, before 160: the call of batch 3 (asOf 100) plus the registry's minimum "
        "cure of 60 s",
    )
    assert checker.opened == {}
    checker.check_calls(calls_batch(3, 100, call(A, 160)), replay_with(A, 0, 1, 80, 50))
    # Re-posted at asOf 150: the bound is still the opening's 100 + 60.
    checker.check_calls(calls_batch(4, 150, call(A, 160)), replay_with(A, 0, 1, 80, 50))
    assert refused(checker, calls_batch(5, 150, call(A, 159)), replay_with(A, 0, 1, 80, 50))[2].startswith(
        "account 4's call has deadline 159, before 160: the call of batch 3 (asOf 100)"
    )
    assert refused(CallChecker(0), calls_batch(3, 100, call(A, 99)), replay_with(A, 0, 1, 80, 50))[2].startswith(
        "account 4's call has deadline 99, before 100"
    )
    CallChecker(0).check_calls(calls_batch(3, 100, call(A, 100)), replay_with(A, 0, 1, 80, 50))


def declare(account: int) -> DefaultAction:
    return DefaultAction(account=account, action=DECLARE, amount=0)


def test_a_declare_needs_a_call_opened_in_an_earlier_batch() -> None:
    replay = replay_with(A, 0, 1, 80, 50)
    checker = CallChecker(min_cure_s=0)
    assert refused(checker, calls_batch(3, 100, declare(A)), replay) == (
        3,
        "declare",
        "DECLARE of account 4, whose margin call was not opened in an earlier batch (no cure period)",
    )
    assert refused(checker, calls_batch(3, 100, call(A, 100), declare(A)), replay)[1] == "declare"
    assert checker.opened == {A: (3, 100)}
    assert refused(checker, calls_batch(3, 100, declare(A)), replay)[1] == "declare"  # same sequence again
    # Other default rows need no call.
    others = [DefaultAction(account=B, action=a, amount=1) for a in (COVER, CLOSE, ASSESS)]
    checker.check_calls(calls_batch(4, 200, declare(A), *others), replay)
    checker.after_rows(calls_batch(4, 200, declare(A), *others))
    assert checker.opened == {}


def test_after_the_rows_a_cure_or_a_declare_closes_the_call() -> None:
    checker = CallChecker(min_cure_s=0, opened={A: (1, 10), B: (1, 10), C: (2, 20)})
    rows = (call(A, 0, amount=0), call(B, 30, amount=5), DefaultAction(account=C, action=COVER, amount=1))
    checker.after_rows(calls_batch(3, 30, *rows))
    assert checker.opened == {B: (1, 10), C: (2, 20)}
    checker.after_rows(calls_batch(4, 40, declare(C), call(B, 0, amount=0)))
    assert checker.opened == {}
    checker.after_rows(calls_batch(5, 50, declare(A), call(A, 0, amount=0)))  # nothing open: no error
    assert checker.opened == {}


# Close-outs: an auction venue and a trading venue; A is in default, B and C are not.
VENUE_KEY = Account.from_key(keccak(text="close-out venue"))
ADDR: dict[int, str] = {a: to_checksum_address("0x" + f"{a:02x}" * 20) for a in (A, B, C)}
MEMBERS: dict[str, int] = {ADDR[a]: a for a in (A, B, C)}
REGISTRY = RegistryState(
    address="0x" + "33" * 20,
    block=1,
    venues={
        name: RegisteredVenue(
            name,
            kind,
            VENUE_KEY.address,
            0,
            (KeyWindow(VENUE_KEY.address, 0, KEY_OPEN),),
            {"BTC": SymbolMapping("BTC-PERP", 0)},
        )
        for name, kind in (("house", "auction"), ("dex", "dex"))
    },
    instruments={"BTC-PERP": RegisteredInstrument("BTC-PERP", "perp", "BTC", ((10, Terms(0, 0, 100, 3600, 1, 1)),))},
    tiers={},
    params=Params(fill_max_age_ms=10**6, fill_max_ahead_ms=10**6, min_cure_s=0),
)


def in_default(*accounts: int, closed: tuple[int, ...] = ()) -> VaultReplay:
    r = VaultReplay()
    for a in accounts:
        r.fund.defaults[a] = DefaultRecord(0, 0, 0, 0, True)
    for a in closed:
        r.fund.defaults[a] = DefaultRecord(0, 0, 0, 0, False)
    return r


def fill(buyer: int, seller: int, qty: int, price: int, venue: str = "house", fid: str = "1") -> PublishedFill:
    f = Fill(
        venue=venue, venue_fill_id=fid, symbol="BTC", buyer=ADDR[buyer], seller=ADDR[seller], qty=qty, price=price, ts=0
    )
    return PublishedFill(f, "BTC-PERP", b"")


def close_out(
    fills: tuple[PublishedFill, ...],
    positions: dict[tuple[int, str], int],
    replay: VaultReplay,
    marks: dict[str, int] | None = None,
    previous: dict[str, int] | None = None,
    as_of: int = 20,
) -> None:
    ctx = BatchContext(marks if marks is not None else {"BTC-PERP": 10_000}, previous or {}, (), {})
    b = Batch(sequence=7, prev_hash=ZERO32, as_of=as_of)
    check_close_outs(b, PublishedBatch(7, None, fills), ctx, positions, MEMBERS, replay, REGISTRY)


def close_out_refused(*args: object, **kwargs: object) -> str:
    with pytest.raises(Discrepancy) as exc:
        close_out(*args, **kwargs)  # type: ignore[arg-type]
    assert (exc.value.sequence, exc.value.check) == (7, "auction-fill")
    return exc.value.detail


def test_an_auction_fill_has_exactly_one_defaulter() -> None:
    pos = {(A, "BTC-PERP"): -5, (B, "BTC-PERP"): 5}
    close_out((fill(A, B, 5, 10_000),), pos, in_default(A))
    assert close_out_refused((fill(B, C, 5, 10_000),), pos, in_default(A)) == (
        "fill house/1 on the auction venue is between accounts 5 and 6, neither in default or exiting: a close-out "
        "has exactly one member closed out"
    )
    assert close_out_refused((fill(A, B, 5, 10_000),), pos, in_default(A, B)).startswith(
        "fill house/1 on the auction venue is between accounts 4 and 5, both in default"
    )
    # A closed default is no longer in default.
    assert "neither" in close_out_refused((fill(A, B, 5, 10_000),), pos, in_default(closed=(A,)))


def test_an_auction_fill_may_close_out_one_exiting_member_instead() -> None:
    """The engine's exit close-out (offchain/defaults/closeout.py): with neither side in default, the side with
    an exit request open, or cancelled since the last batch (`exiting`), is the one closed out."""
    pos = {(B, "BTC-PERP"): 5, (C, "BTC-PERP"): -5}

    def exit_close_out(fills: tuple[PublishedFill, ...], exiting: frozenset[int]) -> None:
        ctx = BatchContext({"BTC-PERP": 10_000}, {}, (), {})
        b = Batch(sequence=7, prev_hash=ZERO32, as_of=20)
        check_close_outs(b, PublishedBatch(7, None, fills), ctx, pos, MEMBERS, VaultReplay(), REGISTRY, exiting)

    exit_close_out((fill(A, B, 5, 10_000), fill(C, A, 5, 10_000, fid="2")), frozenset({B, C}))
    with pytest.raises(Discrepancy, match="both in default or exiting"):
        exit_close_out((fill(C, B, 5, 10_000),), frozenset({B, C}))
    with pytest.raises(Discrepancy, match="a close-out only reduces it"):
        exit_close_out((fill(B, A, 1, 10_000),), frozenset({B}))  # the exiting long buys more
    with pytest.raises(Discrepancy, match="neither in default or exiting"):
        exit_close_out((fill(A, B, 5, 10_000),), frozenset())


def test_a_close_out_reduces_the_defaulters_position_to_zero_at_most() -> None:
    short = {(A, "BTC-PERP"): -5}
    close_out((fill(A, B, 1, 10_000),), short, in_default(A))
    close_out((fill(A, B, 5, 10_000),), short, in_default(A))
    assert close_out_refused((fill(A, B, 6, 10_000),), short, in_default(A)) == (
        "fill house/1 moves defaulter 4's BTC-PERP position -5 by 6: a close-out only reduces it"
    )
    assert close_out_refused((fill(B, A, 1, 10_000),), short, in_default(A)) == (
        "fill house/1 moves defaulter 4's BTC-PERP position -5 by -1: a close-out only reduces it"
    )
    long = {(A, "BTC-PERP"): 5}
    close_out((fill(B, A, 5, 10_000),), long, in_default(A))
    assert "position 5 by 1:" in close_out_refused((fill(A, B, 1, 10_000),), long, in_default(A))
    assert "position 5 by -6:" in close_out_refused((fill(B, A, 6, 10_000),), long, in_default(A))
    assert "position 0 by 1:" in close_out_refused((fill(A, B, 1, 10_000),), {}, in_default(A))
    # Fills apply in order: 3 then 3 of a short 5 crosses zero at the second; the input is not changed.
    assert (
        close_out_refused((fill(A, B, 3, 10_000, fid="1"), fill(A, C, 3, 10_000, fid="2")), short, in_default(A))
        == "fill house/2 moves defaulter 4's BTC-PERP position -2 by 3: a close-out only reduces it"
    )
    assert short == {(A, "BTC-PERP"): -5}
    # Positions of one unit close with one unit, each way.
    close_out((fill(A, B, 1, 10_000),), {(A, "BTC-PERP"): -1}, in_default(A))
    close_out((fill(B, A, 1, 10_000),), {(A, "BTC-PERP"): 1}, in_default(A))
    # The seller's side moves down: a long 5 sold 3 then 3 crosses zero at the second.
    assert (
        close_out_refused((fill(B, A, 3, 10_000, fid="1"), fill(C, A, 3, 10_000, fid="2")), long, in_default(A))
        == "fill house/2 moves defaulter 4's BTC-PERP position 2 by -3: a close-out only reduces it"
    )
    # 3 then 2 closes a short 5 exactly.
    close_out((fill(A, B, 3, 10_000, fid="1"), fill(A, B, 2, 10_000, fid="2")), short, in_default(A))


def test_a_close_out_price_lies_within_the_band_of_the_mark_or_the_previous_mark() -> None:
    short = {(A, "BTC-PERP"): -5}
    # A band of 100 bps around 10000: 9900 to 10100 inclusive.
    for price in (9_900, 10_100, 10_000):
        close_out((fill(A, B, 1, price),), short, in_default(A))
    for price in (9_899, 10_101):
        assert close_out_refused((fill(A, B, 1, price),), short, in_default(A)) == (
            f"fill house/1 closes out at {price}, outside the registered band of 100 bps around the batch's mark "
            "10000 (previous None)"
        )
    # Around the previous mark when the batch has none or when it is the closer one.
    close_out((fill(A, B, 1, 20_200),), short, in_default(A), marks={}, previous={"BTC-PERP": 20_000})
    close_out((fill(A, B, 1, 20_200),), short, in_default(A), previous={"BTC-PERP": 20_000})
    assert close_out_refused(
        (fill(A, B, 1, 20_201),), short, in_default(A), marks={"BTC-PERP": 0}, previous={"BTC-PERP": 20_000}
    ) == (
        "fill house/1 closes out at 20201, outside the registered band of 100 bps around the batch's mark 0 "
        "(previous 20000)"
    )
    # No mark at all: no reference, so no price passes.
    assert "mark None (previous None)" in close_out_refused((fill(A, B, 1, 10_000),), short, in_default(A), marks={})
    # Before the instrument's terms (asOf 9) the band is 0: only the mark itself.
    close_out((fill(A, B, 1, 10_000),), short, in_default(A), as_of=9)
    assert "band of 0 bps" in close_out_refused((fill(A, B, 1, 10_001),), short, in_default(A), as_of=9)


def test_a_defaulter_trades_on_no_other_venue() -> None:
    pos = {(A, "BTC-PERP"): -5}
    close_out((fill(B, C, 5, 1, venue="dex"),), pos, in_default(A))  # no band or position rule off the auction
    for buyer, seller in ((A, B), (B, A)):
        assert close_out_refused((fill(buyer, seller, 1, 10_000, venue="dex"),), pos, in_default(A)) == (
            "fill dex/1: account 4 is in default and trades on venue 'dex' (only the auction venue closes a "
            "defaulter out)"
        )
