"""A member's bid in a default auction: its EIP-712 type, hash and signer check.

`Bid(uint64 auction,uint32 tranche,string instrument,bool buy,uint128 qty,uint128 price,address bidder,uint64 expiry)`
signed by the bidder's member key under the domain `EIP712("crossclear Auctions", "1")` bound to the chain and
the vault. `buy` is the bidder's side (true: the bidder buys what the defaulter sells); `qty` in the
instrument's quantity units, `price` in settlement base units per whole unit, `expiry` in chain seconds.
"""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from offchain.core.batch import UINT32_MAX, UINT64_MAX, UINT128_MAX
from offchain.core.eip712 import Domain, typed_digest, typed_message
from offchain.core.fills import InvalidSignature, recover_signer

BID_TYPE = (
    "Bid(uint64 auction,uint32 tranche,string instrument,bool buy,uint128 qty,uint128 price,address bidder,"
    "uint64 expiry)"
)
BID_TYPEHASH = keccak(text=BID_TYPE)
BID_FIELDS = [
    ("auction", "uint64"),
    ("tranche", "uint32"),
    ("instrument", "string"),
    ("buy", "bool"),
    ("qty", "uint128"),
    ("price", "uint128"),
    ("bidder", "address"),
    ("expiry", "uint64"),
]


def auctions_domain(chain_id: int, vault: str) -> Domain:
    return Domain("crossclear Auctions", "1", chain_id, vault)


def _word(v: int) -> bytes:
    return v.to_bytes(32, "big")


class Bid(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    auction: int = Field(ge=1, le=UINT64_MAX)
    tranche: int = Field(ge=0, le=UINT32_MAX)
    instrument: str = Field(min_length=1, max_length=64)
    buy: bool
    qty: int = Field(gt=0, le=UINT128_MAX)
    price: int = Field(gt=0, le=UINT128_MAX)
    bidder: str
    expiry: int = Field(ge=0, le=UINT64_MAX)

    @field_validator("bidder")
    @classmethod
    def _address(cls, v: str) -> str:
        return str(to_checksum_address(v))

    def struct_hash(self) -> bytes:
        return keccak(
            BID_TYPEHASH
            + _word(self.auction)
            + _word(self.tranche)
            + keccak(text=self.instrument)
            + _word(int(self.buy))
            + _word(self.qty)
            + _word(self.price)
            + b"\x00" * 12
            + bytes.fromhex(self.bidder[2:])
            + _word(self.expiry)
        )

    def digest(self, domain: Domain) -> bytes:
        return typed_digest(domain.separator, self.struct_hash())

    def typed_data(self, domain: Domain) -> dict[str, object]:
        return typed_message(domain, "Bid", BID_FIELDS, self.model_dump())

    def verify(self, signature: bytes, domain: Domain) -> bool:
        """True when `signature` is the bidder's own (an EOA member key) over this bid."""
        try:
            return recover_signer(self.digest(domain), signature) == self.bidder
        except InvalidSignature:
            return False
