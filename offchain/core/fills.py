"""A venue's fill: its EIP-712 type, fast hashing and signer recovery, and its Merkle leaf.

A fill `(venue, venue_fill_id, symbol, buyer, seller, qty, price, ts)` is signed by its venue's
registered key. `qty` is in the instrument's quantity units (10**-qty_decimals of one unit of the
underlying), `price` in settlement-asset base units per one whole unit, `ts` in milliseconds.

Ingest checks thousands of signatures a second, so hashing uses precomputed type hashes and recovery
goes straight to libsecp256k1 through coincurve (eth-account's generic path costs ~290 µs a message);
a property test ties this path to eth-account's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from coincurve import PublicKey
from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sha3 import keccak_256 as _keccak_256

from offchain.core.batch import UINT64_MAX, UINT128_MAX
from offchain.core.eip712 import Domain, typed_message
from offchain.core.merkle import root_of
from offchain.errors import CrossclearError

FILL_TYPE = (
    "Fill(string venue,string venueFillId,string symbol,address buyer,address seller,"
    "uint128 qty,uint128 price,uint64 ts)"
)
FILL_TYPEHASH = keccak(text=FILL_TYPE)
FILL_LEAF_TYPES = ("string", "string", "string", "address", "address", "uint128", "uint128", "uint64")
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


_ZERO12 = b"\x00" * 12
_LEAF_HEAD_BYTES = 8 * 32  # eight head words: three string offsets and five static values


def keccak256(data: bytes) -> bytes:
    # safe-pysha3's C keccak: ~3 µs a call where pycryptodome's object set-up costs ~25 µs, and ingest
    # hashes six times per fill (struct, digest, leaf twice, the recovered key).
    return bytes(_keccak_256(data).digest())


@lru_cache(maxsize=4096)
def _text_hash(text: str) -> bytes:
    """keccak of a short string that repeats across fills (venue names, symbols)."""
    return keccak256(text.encode())


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@lru_cache(maxsize=65_536)  # members' addresses repeat from fill to fill
def _address_word(address: str) -> bytes:
    return _ZERO12 + bytes.fromhex(address[2:])


def _padded(data: bytes) -> bytes:
    return _word(len(data)) + data + b"\x00" * (-len(data) % 32)


class InvalidSignature(CrossclearError, ValueError):  # noqa: N818 - named as the vault's InvalidSignature error
    """A signature that is malformed or does not recover to any key."""


def fills_domain(chain_id: int, vault: str) -> Domain:
    """The domain venues sign fills under: bound to the chain and the clearing vault."""
    return Domain("crossclear Fills", "1", chain_id, vault)


class Fill(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str = Field(min_length=1, max_length=64)
    venue_fill_id: str = Field(min_length=1, max_length=128)
    symbol: str = Field(min_length=1, max_length=64)
    buyer: str
    seller: str
    qty: int = Field(gt=0, le=UINT128_MAX)
    price: int = Field(gt=0, le=UINT128_MAX)
    ts: int = Field(ge=0, le=UINT64_MAX)

    @field_validator("buyer", "seller")
    @classmethod
    def _address(cls, v: str) -> str:
        return str(to_checksum_address(v))

    # Hashing is hand-encoded: every struct field is one 32-byte word (strings enter as their keccak)
    # and the leaf's ABI encoding has a fixed shape, so both are a few byte concatenations, several
    # times faster than eth-abi's generic encoder on the ingest hot path. tests/core/test_fills.py
    # ties them to eth-account's EIP-712 encoder and to eth-abi's encoding, byte for byte.

    def struct_hash(self) -> bytes:
        return fill_struct_hash(self.leaf_values())

    def digest(self, domain: Domain) -> bytes:
        return self.digest_under(domain.separator)

    def digest_under(self, domain_separator: bytes) -> bytes:
        """The digest for a precomputed domain separator (what ingest uses per fill)."""
        return keccak256(b"\x19\x01" + domain_separator + self.struct_hash())

    def leaf_values(self) -> FillValues:
        return (self.venue, self.venue_fill_id, self.symbol, self.buyer, self.seller, self.qty, self.price, self.ts)

    def leaf(self) -> bytes:
        """The fill's StandardMerkleTree leaf (what a venue proves inclusion of):
        keccak(keccak(abi.encode(venue, venueFillId, symbol, buyer, seller, qty, price, ts)))."""
        return fill_leaf(self.leaf_values())

    def typed_data(self, domain: Domain) -> dict[str, object]:
        return typed_message(
            domain,
            "Fill",
            [
                ("venue", "string"),
                ("venueFillId", "string"),
                ("symbol", "string"),
                ("buyer", "address"),
                ("seller", "address"),
                ("qty", "uint128"),
                ("price", "uint128"),
                ("ts", "uint64"),
            ],
            {
                "venue": self.venue,
                "venueFillId": self.venue_fill_id,
                "symbol": self.symbol,
                "buyer": self.buyer,
                "seller": self.seller,
                "qty": self.qty,
                "price": self.price,
                "ts": self.ts,
            },
        )


# A fill's eight signed fields in type order (venue, venueFillId, symbol, buyer, seller, qty, price, ts): what
# ingest's recovery workers hash, so a fill crosses the process boundary as a plain tuple, not a model.
FillValues = tuple[str, str, str, str, str, int, int, int]


def fill_struct_hash(values: FillValues) -> bytes:
    """EIP-712 hashStruct of a fill given as its `FillValues`."""
    venue, venue_fill_id, symbol, buyer, seller, qty, price, ts = values
    return keccak256(
        FILL_TYPEHASH
        + _text_hash(venue)
        + keccak256(venue_fill_id.encode())
        + _text_hash(symbol)
        + _address_word(buyer)
        + _address_word(seller)
        + _word(qty)
        + _word(price)
        + _word(ts)
    )


def fill_digest(domain_separator: bytes, values: FillValues) -> bytes:
    return keccak256(b"\x19\x01" + domain_separator + fill_struct_hash(values))


def fill_leaf(values: FillValues) -> bytes:
    """The StandardMerkleTree leaf of a fill given as its `FillValues` (see `Fill.leaf`)."""
    venue, venue_fill_id, symbol, buyer, seller, qty, price, ts = values
    tails = [_padded(venue.encode()), _padded(venue_fill_id.encode()), _padded(symbol.encode())]
    first = _LEAF_HEAD_BYTES
    encoded = b"".join(
        [
            _word(first),
            _word(first + len(tails[0])),
            _word(first + len(tails[0]) + len(tails[1])),
            _address_word(buyer),
            _address_word(seller),
            _word(qty),
            _word(price),
            _word(ts),
            *tails,
        ]
    )
    return keccak256(keccak256(encoded))


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address whose key made this 65-byte (r ‖ s ‖ v) signature over `digest`."""
    return str(to_checksum_address(recover_signer_bytes(digest, signature)))


def recover_signer_bytes(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address whose key made this 65-byte (r ‖ s ‖ v) signature over `digest`.

    Refuses high-s signatures (EIP-2) and v outside {0, 1, 27, 28}, as OpenZeppelin's ECDSA does.
    """
    if len(signature) != 65:
        raise InvalidSignature(f"signature must be 65 bytes, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1) or not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_N // 2):
        raise InvalidSignature("malformed or malleable signature")
    try:
        pub = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except ValueError as exc:
        raise InvalidSignature(f"signature does not recover: {exc}") from exc
    return keccak256(pub.format(compressed=False)[1:])[12:]


def fills_root(fills: Sequence[Fill]) -> bytes:
    """The Merkle root a batch commits to for the fills it settles."""
    return root_of([f.leaf() for f in fills])
