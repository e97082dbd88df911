"""The fill's EIP-712 digest and Merkle leaf, encoded by hand for the ingest hot path.

`Fill.struct_hash()` / `Fill.leaf()` (offchain/core/fills.py) go through eth-abi's generic encoder
and eth-utils' keccak wrapper, which cost ~350 µs a fill together. Every field of the Fill struct is
one 32-byte word (strings enter the struct hash as their keccak), and the leaf's ABI encoding has a
fixed shape, so both are a few byte concatenations here. tests/ingest/test_hashing.py ties these
functions to the core ones byte for byte; the core ones stay the reference.
"""

from __future__ import annotations

from functools import lru_cache

from Crypto.Hash import keccak as _keccak

from offchain.core.fills import FILL_TYPEHASH, Fill

_ZERO12 = b"\x00" * 12
_LEAF_HEAD_BYTES = 8 * 32  # eight head words: three string offsets and five static values


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


@lru_cache(maxsize=4096)
def _text_hash(text: str) -> bytes:
    """keccak of a short string that repeats across fills (venue names, symbols)."""
    return keccak256(text.encode())


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return _ZERO12 + bytes.fromhex(address[2:])


def _padded(data: bytes) -> bytes:
    return _word(len(data)) + data + b"\x00" * (-len(data) % 32)


def fill_digest(fill: Fill, domain_separator: bytes) -> bytes:
    """Equal to `fill.digest(domain)` for `domain_separator == domain.separator`."""
    struct = keccak256(
        FILL_TYPEHASH
        + _text_hash(fill.venue)
        + keccak256(fill.venue_fill_id.encode())
        + _text_hash(fill.symbol)
        + _address_word(fill.buyer)
        + _address_word(fill.seller)
        + _word(fill.qty)
        + _word(fill.price)
        + _word(fill.ts)
    )
    return keccak256(b"\x19\x01" + domain_separator + struct)


def fill_leaf(fill: Fill) -> bytes:
    """Equal to `fill.leaf()`: keccak(keccak(abi.encode(venue, venueFillId, symbol, buyer, seller,
    qty, price, ts)))."""
    tails = [_padded(fill.venue.encode()), _padded(fill.venue_fill_id.encode()), _padded(fill.symbol.encode())]
    offsets = [_LEAF_HEAD_BYTES]
    offsets.append(offsets[0] + len(tails[0]))
    offsets.append(offsets[1] + len(tails[1]))
    encoded = b"".join(
        [
            *(_word(o) for o in offsets),
            _address_word(fill.buyer),
            _address_word(fill.seller),
            _word(fill.qty),
            _word(fill.price),
            _word(fill.ts),
            *tails,
        ]
    )
    return keccak256(keccak256(encoded))
