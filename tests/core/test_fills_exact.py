"""Signer recovery at every bound of a signature (length, v, r, s), the fills domain, and leaf padding at the
32-byte word boundary (tied to eth-abi's encoding)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from pydantic import ValidationError

from offchain.core.fills import (
    FILL_LEAF_TYPES,
    FILL_TYPE,
    FILL_TYPEHASH,
    SECP256K1_N,
    Fill,
    InvalidSignature,
    fill_digest,
    fill_struct_hash,
    fills_domain,
    fills_root,
    recover_signer,
    recover_signer_bytes,
)
from offchain.core.merkle import root_of

KEY = Account.from_key(keccak(text="venue"))
DOMAIN = fills_domain(31337, "0x" + "ab" * 20)
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FILL = Fill(
    venue="dex", venue_fill_id="1", symbol="BTC", buyer="0x" + "11" * 20, seller="0x" + "22" * 20, qty=1, price=1, ts=0
)
DIGEST = FILL.digest(DOMAIN)
SIG = bytes(Account.unsafe_sign_hash(DIGEST, KEY.key).signature)
R, S, V = int.from_bytes(SIG[:32], "big"), int.from_bytes(SIG[32:64], "big"), SIG[64]


def sig(r: int = R, s: int = S, v: int = V) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def test_constants() -> None:
    assert SECP256K1_N == N
    assert keccak(text=FILL_TYPE) == FILL_TYPEHASH
    d = fills_domain(5, "0x" + "cd" * 20)
    assert (d.name, d.version, d.chain_id) == ("crossclear Fills", "1", 5)


def test_v_as_27_28_or_0_1_and_nothing_else() -> None:
    assert V in (27, 28)
    assert recover_signer(DIGEST, SIG) == KEY.address
    assert recover_signer(DIGEST, sig(v=V - 27)) == KEY.address
    assert recover_signer_bytes(DIGEST, SIG) == bytes.fromhex(KEY.address[2:])
    for v in (2, 26, 29, 255):
        with pytest.raises(InvalidSignature, match="malformed"):
            recover_signer(DIGEST, sig(v=v))


def test_length_is_exactly_65() -> None:
    for bad in (SIG[:64], SIG + b"\x00", b""):
        with pytest.raises(InvalidSignature, match=f"signature must be 65 bytes, got {len(bad)}"):
            recover_signer(DIGEST, bad)


def test_r_in_one_to_n_minus_one() -> None:
    for r in (0, N, N + 1):
        with pytest.raises(InvalidSignature, match="malformed"):
            recover_signer(DIGEST, sig(r=r))
    for r in (1, N - 1):  # inside the bounds: it recovers some key or fails to recover, never "malformed"
        try:
            assert recover_signer(DIGEST, sig(r=r)) != KEY.address
        except InvalidSignature as exc:
            assert "does not recover" in str(exc)


def test_s_in_one_to_half_n() -> None:
    for s in (0, N // 2 + 1, N - S):
        with pytest.raises(InvalidSignature, match="malleable"):
            recover_signer(DIGEST, sig(s=s))
    for s in (1, N // 2):
        try:
            assert recover_signer(DIGEST, sig(s=s)) != KEY.address
        except InvalidSignature as exc:
            assert "does not recover" in str(exc)


@pytest.mark.parametrize("n", [1, 31, 32, 33, 64, 65])
def test_leaf_pads_strings_to_whole_words(n: int) -> None:
    f = FILL.model_copy(update={"venue": "v" * n, "venue_fill_id": "i" * (n + 1), "symbol": "s" * (64 - n % 64 or 1)})
    encoded = encode(list(FILL_LEAF_TYPES), list(f.leaf_values()))
    assert f.leaf() == keccak(keccak(encoded))


def test_fills_root_is_the_root_of_the_leaves() -> None:
    other = FILL.model_copy(update={"venue_fill_id": "2"})
    assert fills_root([FILL, other]) == root_of([FILL.leaf(), other.leaf()])
    assert fills_root([]) == b"\x00" * 32


@pytest.mark.parametrize(
    ("name", "ok", "bad"),
    [
        ("venue", ["v", "v" * 64], ["", "v" * 65]),
        ("venue_fill_id", ["i", "i" * 128], ["", "i" * 129]),
        ("symbol", ["s", "s" * 64], ["", "s" * 65]),
        ("qty", [1, 2**128 - 1], [0, -1, 2**128]),
        ("price", [1, 2**128 - 1], [0, 2**128]),
        ("ts", [0, 2**64 - 1], [-1, 2**64]),
    ],
)
def test_fill_fields_take_their_bounds_and_refuse_one_beyond(name: str, ok: list[object], bad: list[object]) -> None:
    for value in ok:
        assert getattr(Fill.model_validate({**FILL.model_dump(), name: value}), name) == value
    for value in bad:
        with pytest.raises(ValidationError):
            Fill.model_validate({**FILL.model_dump(), name: value})


def test_a_fill_is_frozen() -> None:
    with pytest.raises(ValidationError):
        FILL.qty = 2


def test_fill_digest_of_the_plain_values_is_the_eip712_digest() -> None:
    # What ingest's recovery workers hash (a fill as a plain tuple) against eth-account's generic EIP-712
    # encoding: keccak(0x1901 ‖ domain separator ‖ hashStruct).
    generic = encode_typed_data(full_message=FILL.typed_data(DOMAIN))
    assert fill_struct_hash(FILL.leaf_values()) == generic.body == FILL.struct_hash()
    expected = keccak(b"\x19\x01" + generic.header + generic.body)
    assert fill_digest(DOMAIN.separator, FILL.leaf_values()) == expected == DIGEST
