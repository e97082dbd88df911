"""Fill hashing and fast signer recovery agree with eth-account's generic EIP-712 path."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.fills import FILL_LEAF_TYPES, Fill, InvalidSignature, fills_domain, recover_signer
from offchain.core.merkle import leaf_hash

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
text = st.text(min_size=1, max_size=64)
fills = st.builds(
    Fill,
    venue=text,
    venue_fill_id=text,
    symbol=text,
    buyer=addresses,
    seller=addresses,
    qty=st.integers(1, 2**128 - 1),
    price=st.integers(1, 2**128 - 1),
    ts=st.integers(0, 2**64 - 1),
)
KEY = Account.create()
DOMAIN = fills_domain(31337, "0x" + "ab" * 20)


@settings(max_examples=100, deadline=None)
@given(fills)
def test_fast_hash_and_recovery_equal_eth_account(fill: Fill) -> None:
    generic = encode_typed_data(full_message=fill.typed_data(DOMAIN))
    assert generic.body == fill.struct_hash()
    assert generic.header == DOMAIN.separator
    signed = Account.sign_typed_data(KEY.key, full_message=fill.typed_data(DOMAIN))
    assert recover_signer(fill.digest(DOMAIN), bytes(signed.signature)) == KEY.address


def test_malleable_and_malformed_signatures_are_refused() -> None:
    fill = Fill(
        venue="dex",
        venue_fill_id="1",
        symbol="BTC-PERP",
        buyer="0x" + "11" * 20,
        seller="0x" + "22" * 20,
        qty=1,
        price=1,
        ts=0,
    )
    sig = bytes(Account.unsafe_sign_hash(fill.digest(DOMAIN), KEY.key).signature)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (n - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    with pytest.raises(InvalidSignature, match="malleable"):
        recover_signer(fill.digest(DOMAIN), flipped)
    with pytest.raises(InvalidSignature, match="65 bytes"):
        recover_signer(fill.digest(DOMAIN), sig[:64])
    other = fill.model_copy(update={"qty": 2})
    assert recover_signer(other.digest(DOMAIN), sig) != KEY.address


@settings(max_examples=300, deadline=None)
@given(fill=fills)
def test_hand_encoded_leaf_equals_abi_encoding(fill: Fill) -> None:
    # Any unicode in the strings: multi-byte UTF-8 changes the padding of the dynamic tails.
    assert fill.leaf() == leaf_hash(FILL_LEAF_TYPES, fill.leaf_values())
