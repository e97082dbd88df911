"""A member's signed withdrawal request (EIP-712), as `Vault.requestWithdrawalBySig` checks it."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field

from offchain.core.batch import UINT16_MAX, UINT64_MAX, UINT128_MAX
from offchain.core.eip712 import Domain, typed_digest

WITHDRAWAL_REQUEST_TYPE = (
    "WithdrawalRequest(address member,uint16 asset,uint128 amount,address to,uint256 nonce,uint64 deadline)"
)
WITHDRAWAL_REQUEST_TYPEHASH = keccak(text=WITHDRAWAL_REQUEST_TYPE)


class WithdrawalRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    member: str
    asset: int = Field(ge=0, le=UINT16_MAX)
    amount: int = Field(gt=0, le=UINT128_MAX)
    to: str
    nonce: int = Field(ge=0)
    deadline: int = Field(ge=0, le=UINT64_MAX)

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "address", "uint16", "uint128", "address", "uint256", "uint64"],
                [
                    WITHDRAWAL_REQUEST_TYPEHASH,
                    to_checksum_address(self.member),
                    self.asset,
                    self.amount,
                    to_checksum_address(self.to),
                    self.nonce,
                    self.deadline,
                ],
            )
        )

    def digest(self, domain: Domain) -> bytes:
        return typed_digest(domain.separator, self.struct_hash())

    def as_call_args(self) -> tuple[object, ...]:
        return (
            to_checksum_address(self.member),
            self.asset,
            self.amount,
            to_checksum_address(self.to),
            self.nonce,
            self.deadline,
        )
