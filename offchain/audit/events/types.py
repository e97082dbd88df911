"""The vault's events as the auditor uses them: one frozen dataclass per event that moves state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offchain.chain.signers import SignerSignature
from offchain.core.batch import Mark, Requirement, Transfer


@dataclass(frozen=True)
class Where:
    block: int
    log_index: int
    tx_hash: bytes


@dataclass(frozen=True)
class MemberAdmitted:
    at: Where
    member: str
    account: int


@dataclass(frozen=True)
class AssetListed:
    at: Where
    asset: int
    token: str
    decimals: int
    price: int  # its first mark (the settlement asset's: one whole unit)
    haircut_bps: int


@dataclass(frozen=True)
class SignersUpdated:
    at: Where
    signers: tuple[str, ...]
    threshold: int


@dataclass(frozen=True)
class Deposited:
    at: Where
    account: int
    asset: int
    sender: str
    amount: int


@dataclass(frozen=True)
class WithdrawalRequested:
    at: Where
    id: int
    account: int
    asset: int
    amount: int
    to: str
    ready_at: int


@dataclass(frozen=True)
class WithdrawalExecuted:
    at: Where
    id: int


@dataclass(frozen=True)
class WithdrawalCancelled:
    at: Where
    id: int


@dataclass(frozen=True)
class WithdrawalRecalled:
    """Inside `settle`: a debit beyond the member's balance brought this pending withdrawal back first."""

    at: Where
    id: int


@dataclass(frozen=True)
class LiquidityAdvanced:
    at: Where
    account: int
    amount: int


@dataclass(frozen=True)
class AdvanceRepaid:
    at: Where
    account: int
    amount: int


@dataclass(frozen=True)
class ExitRequested:
    """A member asked to leave (emitted again when its clock restarts): the engine serves it once it is flat
    by posting IM 0 / MM 0 (offchain/chain/exits.py), which the re-derivation accepts (`im-rederive`)."""

    at: Where
    account: int


@dataclass(frozen=True)
class ExitRequestCancelled:
    at: Where
    account: int


@dataclass(frozen=True)
class ExitLapsed:
    """A `forceWindDown` came more than WIND_DOWN_WINDOW after an armed exit became due: the vault cleared the
    request (as a cancel; the member must ask again and wait the whole escape period)."""

    at: Where
    account: int


@dataclass(frozen=True)
class WindDownTriggered:
    at: Where
    last_sequence: int


@dataclass(frozen=True)
class WindDownWithdrawal:
    at: Where
    account: int
    asset: int
    to: str
    amount: int
    seized_for_debt: int


@dataclass(frozen=True)
class DebtCollateralSeized:
    """After wind-down, anyone seized `seized` of `account`'s `asset` into the default fund's estate for its debt."""

    at: Where
    account: int
    asset: int
    seized: int


@dataclass(frozen=True)
class EstateClaimed:
    """After wind-down, `account` claimed `amount` of `asset` of the default fund's estate, `netted` of it kept
    against its debt: inside its own `windDownWithdraw` (a `WindDownWithdrawal` follows in the transaction) or
    by anyone's `netEstateForDebt` (alone: what exceeds the debt becomes the member's balance)."""

    at: Where
    account: int
    asset: int
    amount: int
    netted: int


@dataclass(frozen=True)
class ContributionChanged:
    """A member's default-fund contribution changed by `amount` (< 0: returned, written off, paid out);
    `value` is its contribution value afterwards."""

    at: Where
    account: int
    amount: int
    value: int


@dataclass(frozen=True)
class MarginCalled:
    at: Where
    account: int
    amount: int
    deadline: int


@dataclass(frozen=True)
class DefaultDeclared:
    at: Where
    account: int


@dataclass(frozen=True)
class DefaultClosed:
    at: Where
    account: int


@dataclass(frozen=True)
class WaterfallDraw:
    """One draw of the waterfall covering `defaulter`'s debt (layers 1-5, see Waterfall.sol)."""

    at: Where
    defaulter: int
    layer: int
    account: int
    asset: int
    amount: int
    value: int


# The events a batch's default rows (and a wind-down contribution payout) emit, compared as a list with
# what the replay would emit.
DefaultEvent = ContributionChanged | MarginCalled | DefaultDeclared | DefaultClosed | WaterfallDraw


@dataclass(frozen=True)
class SettleCall:
    """The rows of one `settle` call, as decoded from calldata (not yet validated as a Batch).

    `raw` is the batch tuple in the ABI's field order, what `offchain.core.batch.decode_batch_words`
    takes, so the digest follows the core encoding when the batch gains fields."""

    sequence: int
    prev_hash: bytes
    as_of: int
    fills_root: bytes
    transfers: tuple[Transfer, ...]
    requirements: tuple[Requirement, ...]
    marks: tuple[Mark, ...]
    approved_withdrawals: tuple[int, ...]
    context_hash: bytes
    signatures: tuple[SignerSignature, ...]
    raw: tuple[Any, ...] = ()


@dataclass(frozen=True)
class BatchSettled:
    at: Where
    sequence: int
    digest: bytes
    fills_root: bytes
    as_of: int
    transfer_count: int
    call: SettleCall | None = None  # filled in by the source from the transaction


VaultEvent = (
    MemberAdmitted
    | AssetListed
    | SignersUpdated
    | Deposited
    | WithdrawalRequested
    | WithdrawalExecuted
    | WithdrawalCancelled
    | WithdrawalRecalled
    | ExitRequested
    | ExitRequestCancelled
    | ExitLapsed
    | LiquidityAdvanced
    | AdvanceRepaid
    | WindDownTriggered
    | WindDownWithdrawal
    | DebtCollateralSeized
    | EstateClaimed
    | BatchSettled
    | ContributionChanged
    | MarginCalled
    | DefaultDeclared
    | DefaultClosed
    | WaterfallDraw
)
