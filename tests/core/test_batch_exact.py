"""Batch rows, exactly: the constants the vault shares, every field's bounds, each word's layout bit for bit,
the reserved bits at both ends, signed amounts at their extremes, and the batch's own validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from offchain.core.batch import (
    ASSESS,
    BPS,
    CLOSE,
    COVER,
    DECLARE,
    DEFAULT_BATCH_TTL_S,
    DEFAULT_FUND_ACCOUNT,
    FEE_ACCOUNT,
    FIRST_MEMBER_ACCOUNT,
    INT128_MAX,
    INT128_MIN,
    OPERATOR_CAPITAL_ACCOUNT,
    SETTLEMENT_ASSET,
    UINT8_MAX,
    UINT16_MAX,
    UINT32_MAX,
    UINT64_MAX,
    UINT112_MAX,
    UINT128_MAX,
    Batch,
    Contribution,
    DefaultAction,
    MarginCall,
    Mark,
    Requirement,
    Transfer,
    WithdrawalApproval,
    decode_batch_words,
    zero_sum_violations,
)
from offchain.core.eip712 import Domain

Z32 = b"\x00" * 32


def test_constants_shared_with_the_vault() -> None:
    assert (UINT8_MAX, UINT16_MAX, UINT32_MAX, UINT64_MAX) == (0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF)
    assert (UINT112_MAX, UINT128_MAX) == (
        0xFFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF,
        0xFFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF,
    )
    assert (INT128_MIN, INT128_MAX) == (
        -0x8000_0000_0000_0000_0000_0000_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF,
    )
    assert BPS == 10_000
    assert (FEE_ACCOUNT, DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT, FIRST_MEMBER_ACCOUNT) == (1, 2, 3, 4)
    assert SETTLEMENT_ASSET == 0
    assert (DECLARE, COVER, CLOSE, ASSESS) == (1, 2, 3, 4)


# (row type, field, lowest, highest, the other fields)
BOUNDS = [
    (Transfer, "account", 1, UINT32_MAX, {"asset": 0, "amount": 0}),
    (Transfer, "asset", 0, UINT16_MAX, {"account": 1, "amount": 0}),
    (Transfer, "amount", INT128_MIN, INT128_MAX, {"account": 1, "asset": 0}),
    (Requirement, "account", 1, UINT32_MAX, {"im": 0, "mm": 0}),
    (Requirement, "im", 0, UINT112_MAX, {"account": 1, "mm": 0}),
    (Requirement, "mm", 0, UINT112_MAX, {"account": 1, "im": 0}),
    (Mark, "asset", 0, UINT16_MAX, {"haircut_bps": 0, "price": 0}),
    (Mark, "haircut_bps", 0, BPS, {"asset": 0, "price": 0}),
    (Mark, "price", 0, UINT128_MAX, {"asset": 0, "haircut_bps": 0}),
    (Contribution, "account", FIRST_MEMBER_ACCOUNT, UINT32_MAX, {"amount": 0}),
    (Contribution, "amount", INT128_MIN, INT128_MAX, {"account": 4}),
    (MarginCall, "account", FIRST_MEMBER_ACCOUNT, UINT32_MAX, {"deadline": 0, "amount": 0}),
    (MarginCall, "deadline", 0, UINT64_MAX, {"account": 4, "amount": 0}),
    (MarginCall, "amount", 0, UINT128_MAX, {"account": 4, "deadline": 0}),
    (DefaultAction, "account", FIRST_MEMBER_ACCOUNT, UINT32_MAX, {"action": 1, "amount": 0}),
    (DefaultAction, "action", DECLARE, ASSESS, {"account": 4, "amount": 0}),
    (DefaultAction, "amount", 0, UINT128_MAX, {"account": 4, "action": 1}),
    (WithdrawalApproval, "id", 1, UINT64_MAX, {"account": 4, "asset": 0, "amount": 1}),
    (WithdrawalApproval, "account", FIRST_MEMBER_ACCOUNT, UINT32_MAX, {"id": 1, "asset": 0, "amount": 1}),
    (WithdrawalApproval, "asset", 0, UINT16_MAX, {"id": 1, "account": 4, "amount": 1}),
    (WithdrawalApproval, "amount", 1, UINT128_MAX, {"id": 1, "account": 4, "asset": 0}),
]


@pytest.mark.parametrize(("row", "name", "lo", "hi", "rest"), BOUNDS)
def test_every_field_takes_its_bounds_and_refuses_one_beyond(
    row: Any, name: str, lo: int, hi: int, rest: dict[str, int]
) -> None:
    for ok in (lo, hi):
        r = row(**{name: ok}, **rest)
        assert getattr(r, name) == ok
        assert getattr(row.unpack(r.pack()), name) == ok  # and survives its word
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValidationError):
            row(**{name: bad}, **rest)


def test_word_layouts_bit_for_bit() -> None:
    assert (
        Transfer(account=0x01020304, asset=0x0506, amount=-1).pack().hex()
        == "01020304" + "0506" + "00" * 10 + "ff" * 16
    )
    assert Transfer(account=1, asset=0, amount=INT128_MIN).pack().hex() == "00000001" + "00" * 12 + "80" + "00" * 15
    assert Requirement(account=7, im=2, mm=3).pack().hex() == "00000007" + "00" * 13 + "02" + "00" * 13 + "03"
    assert Mark(asset=0x0102, haircut_bps=0x0304, price=5).pack().hex() == "0102" + "0304" + "00" * 27 + "05"
    assert Contribution(account=4, amount=-2).pack().hex() == "00000004" + "00" * 12 + "ff" * 15 + "fe"
    assert (
        MarginCall(account=4, deadline=0x0A0B, amount=6).pack().hex()
        == "00000004" + "00" * 6 + "0a0b" + "00" * 4 + "00" * 15 + "06"
    )
    assert DefaultAction(account=4, action=COVER, amount=9).pack().hex() == "00000004" + "02" + "00" * 26 + "09"


def word(bit: int, base: int = 0) -> bytes:
    return (base | (1 << bit)).to_bytes(32, "big")


ACCOUNT4 = 4 << 224


@pytest.mark.parametrize(
    ("row", "reserved", "base"),
    [
        (Transfer, (128, 207), 1 << 224),
        (Mark, (128, 223), 0),
        (Contribution, (128, 223), ACCOUNT4),
        (MarginCall, (128, 159), ACCOUNT4),
        (DefaultAction, (128, 215), ACCOUNT4 | (1 << 216)),
    ],
)
def test_reserved_bits_at_both_ends_are_refused(row: Any, reserved: tuple[int, int], base: int) -> None:
    for bit in reserved:
        with pytest.raises(ValueError, match="non-zero reserved bits"):
            row.unpack(word(bit, base))
    row.unpack(base.to_bytes(32, "big"))  # none set: fine


def test_the_bits_beside_the_reserved_ones_are_fields() -> None:
    assert Transfer.unpack(word(127, 1 << 224)).amount == INT128_MIN
    assert Transfer.unpack(word(126, 1 << 224)).amount == 2**126
    assert Transfer.unpack(word(208, 1 << 224)).asset == 1
    assert Mark.unpack(word(224)).haircut_bps == 1 and Mark.unpack(word(127)).price == 2**127
    assert Mark.unpack(word(240)).asset == 1
    assert Contribution.unpack(word(127, ACCOUNT4)).amount == INT128_MIN
    assert Contribution.unpack(word(0, ACCOUNT4)).amount == 1
    assert (
        MarginCall.unpack(word(160, ACCOUNT4)).deadline == 1 and MarginCall.unpack(word(127, ACCOUNT4)).amount == 2**127
    )
    assert DefaultAction.unpack(word(217, ACCOUNT4)).action == 2
    assert DefaultAction.unpack(word(127, ACCOUNT4 | (1 << 216))).amount == 2**127
    r = Requirement.unpack(((5 << 224) | (UINT112_MAX << 112) | 1).to_bytes(32, "big"))
    assert (r.account, r.im, r.mm) == (5, UINT112_MAX, 1)
    assert Requirement.unpack(((5 << 224) | (1 << 112)).to_bytes(32, "big")).im == 1


def test_signed_amounts_round_trip_at_their_extremes() -> None:
    for amount in (INT128_MIN, INT128_MIN + 1, -1, 0, 1, INT128_MAX):
        assert Transfer.unpack(Transfer(account=1, asset=2, amount=amount).pack()).amount == amount
        assert Contribution.unpack(Contribution(account=4, amount=amount).pack()).amount == amount


def test_zero_sum_violations_per_asset_without_the_balanced_ones() -> None:
    t = [
        Transfer(account=1, asset=0, amount=5),
        Transfer(account=2, asset=0, amount=-5),
        Transfer(account=1, asset=1, amount=3),
        Transfer(account=1, asset=2, amount=-1),
        Transfer(account=2, asset=1, amount=-1),
    ]
    assert zero_sum_violations(t) == {1: 2, 2: -1}
    assert zero_sum_violations(t[:2]) == {} and zero_sum_violations([]) == {}


def full_batch(**kw: object) -> Batch:
    fields: dict[str, object] = {
        "sequence": 3,
        "prev_hash": b"\x01" * 32,
        "as_of": 1_700_000_000,
        "fills_root": b"\x02" * 32,
        "transfers": (Transfer(account=5, asset=0, amount=-7), Transfer(account=6, asset=0, amount=7)),
        "requirements": (Requirement(account=5, im=10, mm=8),),
        "marks": (Mark(asset=1, haircut_bps=1_000, price=2_000),),
        "approved_withdrawals": (4, 9),
        "context_hash": b"\x03" * 32,
        "contributions": (Contribution(account=5, amount=-1),),
        "margin_calls": (MarginCall(account=6, deadline=99, amount=5),),
        "default_actions": (DefaultAction(account=7, action=DECLARE, amount=0),),
    }
    fields.update(kw)
    return Batch(**fields)  # type: ignore[arg-type]


def test_a_batch_decodes_from_its_words_and_every_field_moves_the_digest() -> None:
    b = full_batch()
    t, r, m = b.words()
    c, mc, d = b.default_words()
    again = decode_batch_words(
        b.sequence, b.prev_hash, b.as_of, b.fills_root, t, r, m, b.approved_withdrawals, b.context_hash, c, mc, d
    )
    assert again == b
    domain = Domain("crossclear", "1", 31337, "0x" + "11" * 20)
    digests = {b.digest(domain)}
    for change in (
        {"sequence": 4},
        {"as_of": 1},
        {"prev_hash": Z32},
        {"fills_root": Z32},
        {"context_hash": Z32},
        {"approved_withdrawals": (4,)},
        {"requirements": ()},
        {"marks": ()},
        {"contributions": ()},
        {"margin_calls": ()},
        {"default_actions": ()},
        {"transfers": ()},
    ):
        digests.add(full_batch(**change).digest(domain))
    assert len(digests) == 13


def test_batch_fields_are_validated() -> None:
    for kw in (
        {"sequence": 0},
        {"sequence": UINT64_MAX + 1},
        {"as_of": -1},
        {"as_of": UINT64_MAX + 1},
        {"prev_hash": b"\x00" * 31},
        {"prev_hash": b"\x00" * 33},
        {"fills_root": b"\x00" * 31},
        {"context_hash": b"\x00" * 33},
    ):
        with pytest.raises(ValidationError):
            full_batch(**kw)
    assert full_batch(sequence=1, as_of=0).sequence == 1
    assert full_batch(sequence=UINT64_MAX, as_of=UINT64_MAX).as_of == UINT64_MAX
    with pytest.raises(ValidationError, match="sum to zero"):
        full_batch(transfers=(Transfer(account=5, asset=0, amount=1),))
    with pytest.raises(ValidationError):
        full_batch(extra=1)


def test_an_approval_word_bit_for_bit_and_its_reserved_bits() -> None:
    a = WithdrawalApproval(id=0x0102, account=0x03040506, asset=0x0708, amount=9)
    assert a.pack() == int("0000000000000102" + "03040506" + "0708" + "0000" + "00" * 15 + "09", 16)
    assert WithdrawalApproval.unpack(a.pack()) == a
    base = (1 << 192) | (4 << 160) | 1
    for bit in (128, 143):
        with pytest.raises(ValueError, match="approval word has non-zero reserved bits"):
            WithdrawalApproval.unpack(base | (1 << bit))
    assert WithdrawalApproval.unpack(base | (1 << 144)).asset == 1
    assert WithdrawalApproval.unpack(base | (1 << 159)).asset == 2**15
    assert WithdrawalApproval.unpack(base | (1 << 127)).amount == 2**127 + 1
    assert WithdrawalApproval.unpack(base | (1 << 160)).account == 5
    assert WithdrawalApproval.unpack(base | (1 << 191)).account == 2**31 + 4
    assert WithdrawalApproval.unpack(base | (1 << 193)).id == 3
    top = WithdrawalApproval(id=UINT64_MAX, account=UINT32_MAX, asset=UINT16_MAX, amount=UINT128_MAX)
    assert WithdrawalApproval.unpack(top.pack()) == top
    assert top.pack() == (2**256 - 1) ^ (UINT16_MAX << 128)


def test_rows_and_batches_are_frozen() -> None:
    rows: list[Any] = [
        Transfer(account=1, asset=0, amount=0),
        Requirement(account=1, im=0, mm=0),
        Mark(asset=0, haircut_bps=0, price=0),
        Contribution(account=4, amount=0),
        MarginCall(account=4, deadline=0, amount=0),
        DefaultAction(account=4, action=DECLARE, amount=0),
        WithdrawalApproval(id=1, account=4, asset=0, amount=1),
        full_batch(),
    ]
    for r in rows:
        name = next(iter(type(r).model_fields))
        with pytest.raises(ValidationError, match="frozen"):
            setattr(r, name, 1)
        assert hash(r) == hash(r.model_copy())


def test_valid_until_defaults_to_the_ttl_after_as_of_capped_at_uint64() -> None:
    assert DEFAULT_BATCH_TTL_S == 3600
    assert full_batch(as_of=0).valid_until == 3600
    assert full_batch(as_of=1_700_000_000).valid_until == 1_700_003_600
    assert full_batch(as_of=UINT64_MAX - 3600).valid_until == UINT64_MAX
    assert full_batch(as_of=UINT64_MAX - 3599).valid_until == UINT64_MAX
    assert full_batch(as_of=UINT64_MAX).valid_until == UINT64_MAX
    assert full_batch(valid_until=-1).valid_until == 1_700_003_600  # -1 means "derive it"
    for given in (0, 1, 1_700_000_000, UINT64_MAX):
        assert full_batch(valid_until=given).valid_until == given
    for bad in (-2, UINT64_MAX + 1):
        with pytest.raises(ValidationError):
            full_batch(valid_until=bad)
    # An asOf given as text is still parsed, but no default is derived from it: refused, not guessed.
    with pytest.raises(ValidationError, match="valid_until is missing and cannot be derived from as_of"):
        full_batch(as_of="5")
    assert full_batch(as_of="5", valid_until=7).as_of == 5
    assert Batch.model_validate(full_batch().model_dump()).valid_until == 1_700_003_600


def test_valid_until_is_signed_and_decoded() -> None:
    domain = Domain("crossclear", "1", 31337, "0x" + "11" * 20)
    b = full_batch(valid_until=1_700_000_100)
    assert b.digest(domain) != full_batch(valid_until=1_700_000_101).digest(domain)
    assert b.digest(domain) != full_batch().digest(domain)
    t, r, m = b.words()
    c, mc, d = b.default_words()
    words = (b.sequence, b.prev_hash, b.as_of, b.fills_root, t, r, m, b.approved_withdrawals, b.context_hash, c, mc, d)
    assert decode_batch_words(*words, valid_until=1_700_000_100) == b
    assert decode_batch_words(*words).valid_until == 1_700_003_600
    assert b.as_call_args() == (*words[:7], [4, 9], b.context_hash, c, mc, d, 1_700_000_100)
    message = b.typed_data(domain)["message"]
    assert isinstance(message, dict) and message["validUntil"] == 1_700_000_100


def test_the_32_byte_fields_refuse_31_and_33_bytes() -> None:
    for name in ("prev_hash", "fills_root", "context_hash"):
        for bad in (b"\x00" * 31, b"\x00" * 33):
            with pytest.raises(ValidationError, match=r"at (least|most) 32 bytes"):
                full_batch(**{name: bad})
        assert getattr(full_batch(**{name: b"\x07" * 32}), name) == b"\x07" * 32
    plain = Batch(sequence=1, prev_hash=Z32, as_of=0)
    assert (plain.fills_root, plain.context_hash) == (Z32, Z32)


def test_decoding_words_without_the_later_fields_takes_their_defaults() -> None:
    b = full_batch(context_hash=Z32, contributions=(), margin_calls=(), default_actions=())
    t, r, m = b.words()
    plain = decode_batch_words(b.sequence, b.prev_hash, b.as_of, b.fills_root, t, r, m, b.approved_withdrawals)
    assert plain == b and plain.context_hash == Z32 and plain.valid_until == b.as_of + 3600
