"""The settlement batch: rows, packing into 32-byte words, and the EIP-712 hash.

Mirrors contracts/src/libraries/Batch.sol word for word:
 - transfer:    account uint32 [255..224] | asset uint16 [223..208] | zero [207..128] | amount int128 [127..0]
 - requirement: account uint32 [255..224] | initial margin uint112 [223..112] | maintenance uint112 [111..0]
 - mark:        asset uint16 [255..240] | haircut bps uint16 [239..224] | zero [223..128] | price uint128 [127..0]
 - contribution:   account uint32 [255..224] | zero [223..128] | amount int128 [127..0]
 - margin call:    account uint32 [255..224] | deadline uint64 [223..160] | zero [159..128] | amount uint128 [127..0]
 - default action: account uint32 [255..224] | action uint8 [223..216] | zero [215..128] | amount uint128 [127..0]
 - approval (a uint256 of approvedWithdrawals): id uint64 [255..192] | account uint32 [191..160] |
   asset uint16 [159..144] | zero [143..128] | amount uint128 [127..0]
Every batch carries `validUntil`: the vault refuses it after that block timestamp (BatchExpired).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from eth_abi import encode
from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, Field, model_validator

from offchain.core.eip712 import Domain, typed_digest, typed_message

UINT8_MAX = 2**8 - 1
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
UINT112_MAX = 2**112 - 1
UINT128_MAX = 2**128 - 1
INT128_MIN = -(2**127)
INT128_MAX = 2**127 - 1
BPS = 10_000

BATCH_TYPE = (
    "Batch(uint64 sequence,bytes32 prevHash,uint64 asOf,bytes32 fillsRoot,bytes32[] transfers,"
    "bytes32[] requirements,bytes32[] marks,uint256[] approvedWithdrawals,bytes32 contextHash,"
    "bytes32[] contributions,bytes32[] marginCalls,bytes32[] defaultActions,uint64 validUntil)"
)
BATCH_TYPEHASH = keccak(text=BATCH_TYPE)
# typehash, sequence, prevHash, asOf, fillsRoot, the hashes of the four arrays, contextHash, then the
# hashes of the three default-management arrays, validUntil
_BATCH_ENCODING = ["bytes32", "uint64", "bytes32", "uint64", "bytes32"] + ["bytes32"] * 8 + ["uint64"]
# How long a batch stays valid after its asOf when the builder does not say (the engine submits within
# seconds; a batch withheld longer than this can no longer land).
DEFAULT_BATCH_TTL_S = 3600

# Account numbers of the vault's system accounts; members start at FIRST_MEMBER_ACCOUNT.
FEE_ACCOUNT = 1
DEFAULT_FUND_ACCOUNT = 2
OPERATOR_CAPITAL_ACCOUNT = 3
FIRST_MEMBER_ACCOUNT = 4
SETTLEMENT_ASSET = 0


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transfer(_Row):
    """A signed change of one account's balance of one asset, in token base units."""

    account: int = Field(ge=1, le=UINT32_MAX)
    asset: int = Field(ge=0, le=UINT16_MAX)
    amount: int = Field(ge=INT128_MIN, le=INT128_MAX)

    def pack(self) -> bytes:
        word = (self.account << 224) | (self.asset << 208) | (self.amount & UINT128_MAX)
        return word.to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> Transfer:
        w = int.from_bytes(word, "big")
        if (w >> 128) & ((1 << 80) - 1):
            raise ValueError(f"transfer word has non-zero reserved bits: {word.hex()}")
        raw = w & UINT128_MAX
        amount = raw - (1 << 128) if raw >> 127 else raw
        return cls(account=w >> 224, asset=(w >> 208) & UINT16_MAX, amount=amount)


class Requirement(_Row):
    """A member's posted initial and maintenance margin, in settlement-asset base units."""

    account: int = Field(ge=1, le=UINT32_MAX)
    im: int = Field(ge=0, le=UINT112_MAX)
    mm: int = Field(ge=0, le=UINT112_MAX)

    def pack(self) -> bytes:
        return ((self.account << 224) | (self.im << 112) | self.mm).to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> Requirement:
        w = int.from_bytes(word, "big")
        return cls(account=w >> 224, im=(w >> 112) & UINT112_MAX, mm=w & UINT112_MAX)


class Mark(_Row):
    """An asset's collateral mark: value of one whole token in settlement base units, and its haircut."""

    asset: int = Field(ge=0, le=UINT16_MAX)
    haircut_bps: int = Field(ge=0, le=BPS)
    price: int = Field(ge=0, le=UINT128_MAX)

    def pack(self) -> bytes:
        return ((self.asset << 240) | (self.haircut_bps << 224) | self.price).to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> Mark:
        w = int.from_bytes(word, "big")
        if (w >> 128) & ((1 << 96) - 1):
            raise ValueError(f"mark word has non-zero reserved bits: {word.hex()}")
        return cls(asset=w >> 240, haircut_bps=(w >> 224) & UINT16_MAX, price=w & UINT128_MAX)


class Contribution(_Row):
    """A member's default-fund contribution change, in settlement-asset base units: > 0 moves cash into its
    contribution (pool shares), < 0 returns contribution value to its cash."""

    account: int = Field(ge=FIRST_MEMBER_ACCOUNT, le=UINT32_MAX)
    amount: int = Field(ge=INT128_MIN, le=INT128_MAX)

    def pack(self) -> bytes:
        return ((self.account << 224) | (self.amount & UINT128_MAX)).to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> Contribution:
        w = int.from_bytes(word, "big")
        if (w >> 128) & ((1 << 96) - 1):
            raise ValueError(f"contribution word has non-zero reserved bits: {word.hex()}")
        raw = w & UINT128_MAX
        amount = raw - (1 << 128) if raw >> 127 else raw
        return cls(account=w >> 224, amount=amount)


class MarginCall(_Row):
    """A margin call the vault records (`marginCallOf`): amount in settlement-asset base units, deadline in
    unix seconds. Amount 0 clears the member's call."""

    account: int = Field(ge=FIRST_MEMBER_ACCOUNT, le=UINT32_MAX)
    deadline: int = Field(ge=0, le=UINT64_MAX)
    amount: int = Field(ge=0, le=UINT128_MAX)

    def pack(self) -> bytes:
        return ((self.account << 224) | (self.deadline << 160) | self.amount).to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> MarginCall:
        w = int.from_bytes(word, "big")
        if (w >> 128) & UINT32_MAX:
            raise ValueError(f"margin call word has non-zero reserved bits: {word.hex()}")
        return cls(account=w >> 224, deadline=(w >> 160) & UINT64_MAX, amount=w & UINT128_MAX)


DECLARE = 1
COVER = 2
CLOSE = 3
ASSESS = 4


class DefaultAction(_Row):
    """A default-management step: DECLARE (amount 0), COVER `amount` of the defaulter's debt (the vault
    draws layers 1-4 itself), CLOSE (debt must be 0), ASSESS a survivor `amount` for the last COVER."""

    account: int = Field(ge=FIRST_MEMBER_ACCOUNT, le=UINT32_MAX)
    action: int = Field(ge=DECLARE, le=ASSESS)
    amount: int = Field(ge=0, le=UINT128_MAX)

    def pack(self) -> bytes:
        return ((self.account << 224) | (self.action << 216) | self.amount).to_bytes(32, "big")

    @classmethod
    def unpack(cls, word: bytes) -> DefaultAction:
        w = int.from_bytes(word, "big")
        if (w >> 128) & ((1 << 88) - 1):
            raise ValueError(f"default action word has non-zero reserved bits: {word.hex()}")
        return cls(account=w >> 224, action=(w >> 216) & UINT8_MAX, amount=w & UINT128_MAX)


class WithdrawalApproval(_Row):
    """A batch's instant release of one pending withdrawal, binding everything the withdrawal is: the vault
    refuses an approval whose account, asset or amount differ from the withdrawal with that id, and skips
    (RowAdjusted) one that is no longer pending."""

    id: int = Field(ge=1, le=UINT64_MAX)
    account: int = Field(ge=FIRST_MEMBER_ACCOUNT, le=UINT32_MAX)
    asset: int = Field(ge=0, le=UINT16_MAX)
    amount: int = Field(ge=1, le=UINT128_MAX)

    def pack(self) -> int:
        return (self.id << 192) | (self.account << 160) | (self.asset << 144) | self.amount

    @classmethod
    def unpack(cls, word: int) -> WithdrawalApproval:
        if (word >> 128) & UINT16_MAX:
            raise ValueError(f"approval word has non-zero reserved bits: {word:#x}")
        return cls(
            id=word >> 192,
            account=(word >> 160) & UINT32_MAX,
            asset=(word >> 144) & UINT16_MAX,
            amount=word & UINT128_MAX,
        )


def zero_sum_violations(transfers: Iterable[Transfer]) -> dict[int, int]:
    """Per-asset sums that are not zero (empty when the transfers balance)."""
    sums: dict[int, int] = defaultdict(int)
    for t in transfers:
        sums[t.asset] += t.amount
    return {asset: s for asset, s in sums.items() if s != 0}


class Batch(BaseModel):
    """A settlement batch as `Vault.settle` takes it. Transfers must sum to zero per asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int = Field(ge=1, le=UINT64_MAX)
    prev_hash: bytes = Field(min_length=32, max_length=32)
    as_of: int = Field(ge=0, le=UINT64_MAX)
    fills_root: bytes = Field(default=b"\x00" * 32, min_length=32, max_length=32)
    transfers: tuple[Transfer, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    marks: tuple[Mark, ...] = ()
    approved_withdrawals: tuple[int, ...] = ()  # packed WithdrawalApproval words
    # keccak256 of the published batch context (instrument marks, funding, fees): binds what an auditor
    # recomputes the variation margin from to the signed batch.
    context_hash: bytes = Field(default=b"\x00" * 32, min_length=32, max_length=32)
    # Default management (issue 6), applied after the transfers in this order.
    contributions: tuple[Contribution, ...] = ()
    margin_calls: tuple[MarginCall, ...] = ()
    default_actions: tuple[DefaultAction, ...] = ()
    # The last block timestamp at which the vault accepts the batch; asOf + DEFAULT_BATCH_TTL_S when omitted.
    valid_until: int = Field(default=-1, ge=-1, le=UINT64_MAX)

    @model_validator(mode="before")
    @classmethod
    def _default_valid_until(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("valid_until", -1) == -1 and isinstance(data.get("as_of"), int):
            return {**data, "valid_until": min(data["as_of"] + DEFAULT_BATCH_TTL_S, UINT64_MAX)}
        return data

    @model_validator(mode="after")
    def _zero_sum(self) -> Batch:
        if self.valid_until < 0:
            raise ValueError("valid_until is missing and cannot be derived from as_of")
        bad = zero_sum_violations(self.transfers)
        if bad:
            raise ValueError(f"transfers do not sum to zero per asset: {bad}")
        return self

    def words(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        return (
            [t.pack() for t in self.transfers],
            [r.pack() for r in self.requirements],
            [m.pack() for m in self.marks],
        )

    def default_words(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """Packed contributions, margin calls and default actions."""
        return (
            [c.pack() for c in self.contributions],
            [m.pack() for m in self.margin_calls],
            [d.pack() for d in self.default_actions],
        )

    def struct_hash(self) -> bytes:
        transfers, requirements, marks = self.words()
        contributions, margin_calls, default_actions = self.default_words()
        return keccak(
            encode(
                _BATCH_ENCODING,
                [
                    BATCH_TYPEHASH,
                    self.sequence,
                    self.prev_hash,
                    self.as_of,
                    self.fills_root,
                    keccak(b"".join(transfers)),
                    keccak(b"".join(requirements)),
                    keccak(b"".join(marks)),
                    keccak(b"".join(w.to_bytes(32, "big") for w in self.approved_withdrawals)),
                    self.context_hash,
                    keccak(b"".join(contributions)),
                    keccak(b"".join(margin_calls)),
                    keccak(b"".join(default_actions)),
                    self.valid_until,
                ],
            )
        )

    def digest(self, domain: Domain) -> bytes:
        return typed_digest(domain.separator, self.struct_hash())

    def as_call_args(self) -> tuple[object, ...]:
        """The tuple web3.py encodes for `Batch.Data calldata`."""
        transfers, requirements, marks = self.words()
        contributions, margin_calls, default_actions = self.default_words()
        return (
            self.sequence,
            self.prev_hash,
            self.as_of,
            self.fills_root,
            transfers,
            requirements,
            marks,
            list(self.approved_withdrawals),
            self.context_hash,
            contributions,
            margin_calls,
            default_actions,
            self.valid_until,
        )

    def typed_data(self, domain: Domain) -> dict[str, object]:
        """The standard EIP-712 JSON form (wallets, eth-account's generic encoder)."""
        transfers, requirements, marks = self.words()
        contributions, margin_calls, default_actions = self.default_words()
        return typed_message(
            domain,
            "Batch",
            [
                ("sequence", "uint64"),
                ("prevHash", "bytes32"),
                ("asOf", "uint64"),
                ("fillsRoot", "bytes32"),
                ("transfers", "bytes32[]"),
                ("requirements", "bytes32[]"),
                ("marks", "bytes32[]"),
                ("approvedWithdrawals", "uint256[]"),
                ("contextHash", "bytes32"),
                ("contributions", "bytes32[]"),
                ("marginCalls", "bytes32[]"),
                ("defaultActions", "bytes32[]"),
                ("validUntil", "uint64"),
            ],
            {
                "sequence": self.sequence,
                "prevHash": self.prev_hash,
                "asOf": self.as_of,
                "fillsRoot": self.fills_root,
                "transfers": transfers,
                "requirements": requirements,
                "marks": marks,
                "approvedWithdrawals": list(self.approved_withdrawals),
                "contextHash": self.context_hash,
                "contributions": contributions,
                "marginCalls": margin_calls,
                "defaultActions": default_actions,
                "validUntil": self.valid_until,
            },
        )


def decode_batch_words(
    sequence: int,
    prev_hash: bytes,
    as_of: int,
    fills_root: bytes,
    transfers: Sequence[bytes],
    requirements: Sequence[bytes],
    marks: Sequence[bytes],
    approved_withdrawals: Sequence[int],
    context_hash: bytes = b"\x00" * 32,
    contributions: Sequence[bytes] = (),
    margin_calls: Sequence[bytes] = (),
    default_actions: Sequence[bytes] = (),
    valid_until: int = -1,
) -> Batch:
    """Rebuild a Batch from the words of `settle` calldata (what an auditor reads off the chain)."""
    return Batch(
        sequence=sequence,
        prev_hash=bytes(prev_hash),
        as_of=as_of,
        fills_root=bytes(fills_root),
        transfers=tuple(Transfer.unpack(bytes(w)) for w in transfers),
        requirements=tuple(Requirement.unpack(bytes(w)) for w in requirements),
        marks=tuple(Mark.unpack(bytes(w)) for w in marks),
        approved_withdrawals=tuple(approved_withdrawals),
        context_hash=bytes(context_hash),
        contributions=tuple(Contribution.unpack(bytes(w)) for w in contributions),
        margin_calls=tuple(MarginCall.unpack(bytes(w)) for w in margin_calls),
        default_actions=tuple(DefaultAction.unpack(bytes(w)) for w in default_actions),
        valid_until=valid_until,
    )
