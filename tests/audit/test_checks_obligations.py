"""The auditor's obligations check (offchain/audit/checks/obligations.py) on batches built by hand, no chain.

Two members trade 1 BTC at 100,000 (fees only), then the mark moves to 101,000 and one funding interval of 1%
applies: the auditor's PositionBook must accept exactly the rule's transfers and name each way to depart.
"""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from offchain.audit.checks.obligations import PositionBook, check_contribution, net_by_account, parse_context
from offchain.audit.errors import Discrepancy
from offchain.audit.published import PublishedBatch, PublishedFill
from offchain.core.batch import (
    DEFAULT_FUND_ACCOUNT,
    FEE_ACCOUNT,
    OPERATOR_CAPITAL_ACCOUNT,
    SETTLEMENT_ASSET,
    Batch,
    Requirement,
    Transfer,
)
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.fills import Fill

A_ADDR, B_ADDR = "0x" + "aa" * 20, "0x" + "bb" * 20
A, B = 4, 5
MEMBERS: dict[str, int] = {to_checksum_address(A_ADDR): A, to_checksum_address(B_ADDR): B}
TERMS = {"BTC": InstrumentTerms(qty_decimals=3, clearing_fee_bps=10)}


def fill(fid: str, qty: int = 1_000, price: int = 100_000, buyer: str = A_ADDR, seller: str = B_ADDR) -> Fill:
    return Fill(venue="v1", venue_fill_id=fid, symbol="BTCUSD", buyer=buyer, seller=seller, qty=qty, price=price, ts=1)


def context(
    marks: dict[str, int],
    previous: dict[str, int] | None = None,
    funding: tuple[tuple[str, int, int], ...] = (),
    terms: dict[str, InstrumentTerms] | None = None,
) -> str:
    return BatchContext(marks, previous or {}, funding, TERMS if terms is None else terms).canonical().decode()


def batch(seq: int, *transfers: tuple[int, int], requirements: tuple[Requirement, ...] = ()) -> Batch:
    return Batch(
        sequence=seq,
        prev_hash=b"\x00" * 32,
        as_of=seq,
        transfers=tuple(Transfer(account=a, asset=SETTLEMENT_ASSET, amount=v) for a, v in transfers),
        requirements=requirements,
    )


def published(seq: int, ctx: str | None, *fills: Fill, instrument: str = "BTC") -> PublishedBatch:
    return PublishedBatch(seq, ctx, tuple(PublishedFill(f, instrument, b"") for f in fills))


OPERATOR = frozenset({A})  # A is the operator's own member account


def settle(book: PositionBook, b: Batch, p: PublishedBatch) -> set[int]:
    """As the runner calls it: the published context parsed first."""
    return book.settle(b, p, MEMBERS, parse_context(b.sequence, p), OPERATOR)


def first_batch(book: PositionBook) -> set[int]:
    # Fees: ceil(1,000 × 100,000 × 10 / (10**3 × 10**4)) = 100 for each side; no VM at the trade price.
    return settle(
        book, batch(1, (A, -100), (B, -100), (FEE_ACCOUNT, 200)), published(1, context({"BTC": 100_000}), fill("f1"))
    )


SECOND_CONTEXT = context({"BTC": 101_000}, {"BTC": 100_000}, (("BTC", 5, 1_000_000),))


def finding(book: PositionBook, b: Batch, p: PublishedBatch) -> Discrepancy:
    with pytest.raises(Discrepancy) as exc:
        settle(book, b, p)
    assert exc.value.sequence == b.sequence
    return exc.value


def test_the_rules_transfers_pass_and_move_positions_marks_and_funding_forward() -> None:
    book = PositionBook()
    assert first_batch(book) == {A, B}
    assert book.positions == {(A, "BTC"): 1_000, (B, "BTC"): -1_000}
    assert book.last_marks == {"BTC": (100_000, 1)}
    assert book.holders() == {A, B}
    # VM +1,000 / −1,000; funding −1,010 / +1,010 (longs pay 1% of 1 × 101,000): nets −10 / +10.
    assert settle(book, batch(2, (A, -10), (B, 10)), published(2, SECOND_CONTEXT)) == set()
    assert book.last_marks == {"BTC": (101_000, 2)}
    assert book.funding_applied == {("BTC", 5)}


def test_closing_positions_leaves_no_holders() -> None:
    book = PositionBook()
    first_batch(book)
    close = fill("f2", buyer=B_ADDR, seller=A_ADDR, price=100_000)
    assert settle(
        book,
        batch(2, (A, -100), (B, -100), (FEE_ACCOUNT, 200)),
        published(2, context({"BTC": 100_000}, {"BTC": 100_000}), close),
    ) == {A, B}
    assert book.positions == {} and book.holders() == set()


def test_a_transfer_off_by_one_unit_names_the_account_and_the_rules_parts() -> None:
    book = PositionBook()
    first_batch(book)
    e = finding(book, batch(2, (A, -11), (B, 11)), published(2, SECOND_CONTEXT))
    assert e.check == "transfers"
    assert e.detail.startswith("account 4 asset 0 settled -11, the rule gives -10 (funding -1010, vm 1000)")
    e = finding(book, batch(2, (A, -10), (B, 10), (FEE_ACCOUNT, 1), (6, -1)), published(2, SECOND_CONTEXT))
    assert e.detail.startswith("account 1 asset 0 settled 1, the rule gives 0 (nothing)")


def test_the_previous_mark_must_be_the_last_settled_one() -> None:
    book = PositionBook()
    first_batch(book)
    moved = context({"BTC": 101_000}, {"BTC": 99_000})
    e = finding(book, batch(2, (A, 1), (B, -1)), published(2, moved))
    assert e.check == "previous-mark"
    assert e.detail == "the context's previous mark of BTC is 99000, but it was last settled at 100000 in batch 1"
    e = finding(book, batch(2, (A, 1), (B, -1)), published(2, context({"BTC": 101_000})))
    assert e.detail == "the context's previous mark of BTC is None, but it was last settled at 100000 in batch 1"
    fresh = PositionBook()
    e = finding(fresh, batch(1), published(1, context({"BTC": 100_000}, {"BTC": 1})))
    assert e.detail == "the context's previous mark of BTC is 1, but it was never settled before"


def test_funding_applies_once() -> None:
    book = PositionBook()
    first_batch(book)
    settle(book, batch(2, (A, -10), (B, 10)), published(2, SECOND_CONTEXT))
    again = context({"BTC": 101_000}, {"BTC": 101_000}, (("BTC", 5, 1_000_000),))
    e = finding(book, batch(3, (A, -1_010), (B, 1_010)), published(3, again))
    assert (e.check, e.detail) == ("funding", "funding of BTC at 5 was already applied")


def test_a_fill_of_an_instrument_the_context_does_not_mark() -> None:
    e = finding(PositionBook(), batch(1), published(1, context({"BTC": 1}), fill("f1"), instrument="ETH"))
    assert (e.check, e.detail) == ("fill-instrument", "fill v1/f1 settles ETH, which the context does not mark")


def test_the_context_must_give_terms_mark_only_what_is_held_and_fund_only_what_it_marks() -> None:
    e = finding(PositionBook(), batch(1), published(1, context({"BTC": 100_000}, terms={}), fill("f1")))
    assert (e.check, e.detail) == ("context", "no instrument terms in the context for ['BTC']")
    e = finding(PositionBook(), batch(1), published(1, context({"BTC": 100_000})))
    assert (e.check, e.detail) == ("context", "the context marks ['BTC'], which no member holds or trades")
    book = PositionBook()
    first_batch(book)
    terms = {**TERMS, "ETH": InstrumentTerms(2, 0)}
    unmarked = context({"BTC": 100_000}, {"BTC": 100_000}, (("ETH", 5, 1),), terms)
    e = finding(book, batch(2), published(2, unmarked))
    assert (e.check, e.detail) == ("context", "the context applies funding to an instrument it does not mark")
    e = finding(book, batch(2), published(2, "{not json"))
    assert e.check == "context" and e.detail.startswith("the published context does not parse")
    e = finding(book, batch(2), published(2, '{"marks": {}}'))
    assert e.check == "context" and e.detail.startswith("the published context does not parse")


def test_a_batch_without_context_only_funds_the_default_fund_and_operator_capital() -> None:
    book = PositionBook()
    ok = batch(1, (A, -6), (DEFAULT_FUND_ACCOUNT, 4), (OPERATOR_CAPITAL_ACCOUNT, 2))
    assert settle(book, ok, published(1, None)) == set()
    check_contribution(batch(1), OPERATOR)
    # A member's cash moved without a context is a taking, whoever receives it; so is any other credit.
    for rows in (
        ((B, -1), (DEFAULT_FUND_ACCOUNT, 1)),
        ((A, -1), (FEE_ACCOUNT, 1)),
        ((A, -1), (B, 1)),
        ((DEFAULT_FUND_ACCOUNT, -1), (OPERATOR_CAPITAL_ACCOUNT, 1)),
    ):
        with pytest.raises(Discrepancy) as exc:
            check_contribution(batch(3, *rows), OPERATOR)
        assert exc.value.check == "no-context" and exc.value.sequence == 3
    with pytest.raises(Discrepancy) as exc:
        check_contribution(batch(3, (FEE_ACCOUNT, -1), (DEFAULT_FUND_ACCOUNT, 1)), OPERATOR)
    assert exc.value.detail.startswith("account 1 asset 0 moves -1 in a batch without a published context")
    with pytest.raises(Discrepancy) as exc:
        check_contribution(batch(4, requirements=(Requirement(account=A, im=1, mm=1),)), OPERATOR)
    assert (exc.value.check, exc.value.sequence) == ("no-context", 4)
    with pytest.raises(Discrepancy) as exc:  # fills settled without a context
        settle(book, batch(5), published(5, None, fill("f9")))
    assert exc.value.check == "no-context"


def test_net_by_account_drops_zero_nets() -> None:
    transfers = (
        Transfer(account=A, asset=0, amount=5),
        Transfer(account=B, asset=0, amount=-5),
        Transfer(account=A, asset=0, amount=-5),
        Transfer(account=B, asset=1, amount=3),
        Transfer(account=A, asset=1, amount=-3),
    )
    assert net_by_account(transfers) == {(B, 0): -5, (B, 1): 3, (A, 1): -3}


def test_a_zero_transfer_without_context_is_judged_as_a_credit() -> None:
    check_contribution(batch(3, (DEFAULT_FUND_ACCOUNT, 0)), OPERATOR)
    with pytest.raises(Discrepancy) as exc:
        check_contribution(batch(3, (B, 0)), OPERATOR)
    assert exc.value.detail.startswith("account 5 asset 0 moves 0 in a batch without a published context")
