"""Request and response bodies. Money and quantities travel as decimal strings of integer base units
(JSON numbers lose precision beyond 2**53); hashes and signatures as 0x-prefixed hex."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Generic, Literal, TypeVar

from eth_utils import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from offchain.risk.tiers import DEFAULT_TIERS


@lru_cache(maxsize=65_536)
def checksum(address: str) -> str:
    """`to_checksum_address`, cached: the same few thousand member addresses arrive in every bulk, and
    eth-utils spends ~30 µs on each (pure Python)."""
    return str(to_checksum_address(address))


def _eip55(v: str) -> str:
    """All-lower or all-upper hex carries no checksum; mixed case must be the EIP-55 checksum (a typo in
    one letter of an address then fails here instead of naming another account)."""
    digits = v[2:]
    if digits != digits.lower() and digits != digits.upper() and checksum(v) != v:
        raise ValueError(f"{v} is mixed-case but not its EIP-55 checksum ({checksum(v)})")
    return v


# JSON Schema cannot say "mixed case only as its EIP-55 checksum", so the schema names the rule as a format
# of its own ("eip55-address": all-lower, all-upper, or the checksum) beside the pattern; a generator that
# knows the format (tests/api/test_schemathesis.py) then produces only addresses the API accepts.
Address = Annotated[
    str,
    StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$"),
    AfterValidator(_eip55),
    Field(json_schema_extra={"format": "eip55-address"}),
]
Hex = Annotated[str, StringConstraints(pattern=r"^0x([0-9a-fA-F]{2})*$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x([0-9a-fA-F]{2}){1,4096}$")]
UInt = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,78}$")]
Amount = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,80}$")]
# Identifiers (venue names, symbols, fill ids): printable ASCII, no surrounding spaces.
Ident = Annotated[str, StringConstraints(pattern=r"^[!-~]([ -~]*[!-~])?$", min_length=1, max_length=64)]
LongIdent = Annotated[str, StringConstraints(pattern=r"^[!-~]([ -~]*[!-~])?$", min_length=1, max_length=128)]
Account = Annotated[int, Field(ge=0, le=2**32 - 1)]
# Times and ids a client sends as JSON numbers stay within the integers every JSON parser holds exactly
# (2**53 - 1, JavaScript's Number.MAX_SAFE_INTEGER): a bound beyond it is rounded when the schema is read,
# so a client (or a generator) taking the schema at its word would send a value the API refuses. Unix
# seconds or milliseconds below 2**53 reach far past any real date.
JSON_SAFE_INT = 2**53 - 1
# A positive uint128 as decimal text, written as a pattern alone: up to 38 digits (< 10**38 < 2**128), so
# every string the schema admits is one the core model accepts.
PositiveUInt128 = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,37}$")]
# A member tier's name: the schema lists the tiers there are (an unknown one is still refused by name, 422
# `unknown_tier`, for a client that did not read the schema).
TierName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{1,16}$"),
    Field(json_schema_extra={"enum": sorted(t.name for t in DEFAULT_TIERS)}),
]


def _uint256(v: str) -> str:
    if int(v) >= 2**256:
        raise ValueError("must be below 2**256")
    return v


def _clean_text(v: str) -> str:
    if v != v.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in v):
        raise ValueError("no control characters, lone surrogates or surrounding spaces")
    return v


Text = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_clean_text)]
Nonce = Annotated[UInt, AfterValidator(_uint256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Auth(_Model):
    """The EIP-712 `ApiRequest` envelope's fields and its signature (see GET /v1/signing)."""

    signer: Address
    nonce: Nonce = Field(description="uint256 as decimal text, never reused by this signer")
    expiry: int = Field(ge=0, le=JSON_SAFE_INT, description="unix seconds")
    signature: Signature = Field(description="65-byte ECDSA, or the contract account's EIP-1271 signature")


P = TypeVar("P", bound=BaseModel)


class Signed(_Model, Generic[P]):
    payload: P
    auth: Auth


class Empty(_Model):
    pass


class Paged(BaseModel, Generic[P]):
    items: list[P]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page; null on the last page")


# ---------------------------------------------------------------- auth


class LoginPayload(_Model):
    purpose: Literal["login"] = "login"


class RevokePayload(_Model):
    purpose: Literal["revoke_sessions"] = "revoke_sessions"


class RevokedOut(BaseModel):
    address: str
    revoked: Literal["this_session", "all_sessions"]
    generation: int = Field(description="the address's session generation (tokens of earlier ones are refused)")


class SessionOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    address: str
    expires_ms: int
    roles: list[str]


class SigningInfo(BaseModel):
    domain: dict[str, object]
    request_type: str
    fills_domain: dict[str, object]
    fill_type: str
    withdrawal_domain: dict[str, object]
    withdrawal_type: str
    sub_account_consent_type: str = Field(description="signed by a sub-account's own key, under `domain`")
    canonical_payload: str


# ---------------------------------------------------------------- membership


class TierOut(BaseModel):
    name: str
    im_multiplier: float
    limit_multiplier: float
    df_multiplier: float


class ApplyPayload(_Model):
    name: Text
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] = Field(
        description="market_maker, hedge_fund, dao, foundation, family_office, trust, retail_pool, ..."
    )
    tier: TierName
    group: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] = Field(
        description="member group for the platform's directional view: retail, professional, buy_side, treasury"
    )


class ApprovePayload(_Model):
    account: Account = Field(description="the vault account the operator admitted this address under on-chain")
    instruments: list[Ident] | None = Field(default=None, max_length=256, description="granted (default: all active)")
    tier: TierName | None = None


class RejectPayload(_Model):
    reason: Text


class ApplicationOut(BaseModel):
    id: int
    address: str
    name: str
    kind: str
    tier: str
    group: str
    parent: int | None
    status: Literal["pending", "approved", "rejected"]
    account: int | None
    note: str
    created_ms: int
    decided_ms: int | None


class SubAccountConsentIn(_Model):
    """The sub-account key's EIP-712 `SubAccountConsent(uint32 parent,address subAccount,string label,uint64
    expiry)` under the API domain (EIP-1271 for a contract sub-account)."""

    expiry: int = Field(ge=0, le=JSON_SAFE_INT, description="unix seconds, at most max_request_ttl_s ahead")
    signature: Signature


class SubAccountPayload(_Model):
    address: Address = Field(description="the sub-account's own key or contract (it signs its withdrawals)")
    label: Text
    consent: SubAccountConsentIn = Field(
        description="the sub-account key's own signature: no account is claimed for it"
    )


# ---------------------------------------------------------------- venues


class VenueRegisterPayload(_Model):
    name: Ident
    kind: Literal["dex", "cex", "otc"]


class VenueOut(BaseModel):
    name: str
    signer: str
    kind: str
    approved: bool
    created_ms: int


class FillIn(_Model):
    """The EIP-712 `Fill` a venue signed under the fills domain (see docs/venues.md)."""

    venue: Ident
    venue_fill_id: LongIdent
    symbol: Ident
    buyer: Address
    seller: Address
    qty: UInt
    price: UInt
    ts: int = Field(ge=0, le=JSON_SAFE_INT)


class SignedFill(_Model):
    fill: FillIn
    signature: Signature


class BulkFills(_Model):
    # The upper bound is the server's `max_bulk` (default 1,000): 413 `bulk_too_large` beyond it, and the
    # OpenAPI schema's maxItems says the same (offchain/api/main.py).
    fills: list[SignedFill] = Field(min_length=1)


class AckOut(BaseModel):
    venue_fill_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    fill_id: int | None
    reason: str | None = Field(description="machine-readable rejection code (docs/venues.md)")
    detail: str


class FillOut(BaseModel):
    id: int
    venue: str
    venue_fill_id: str
    symbol: str
    instrument: str
    buyer: str
    seller: str
    qty: str
    price: str
    ts: int
    signature: str
    leaf: str
    received_ms: int
    status: Literal["pending", "batched", "settled"]
    batch_sequence: int | None


class ProofOut(BaseModel):
    venue: str
    venue_fill_id: str
    leaf: str
    proof: list[str]
    root: str
    batch_sequence: int
    batch_status: str
    tx_hash: str | None
    block_number: int | None


class FillStatusOut(BaseModel):
    fill: FillOut
    proof: ProofOut | None


# ---------------------------------------------------------------- members


# A member's status in the ledger (offchain/ingest/registry.py MEMBER_STATUSES): what ingest accepts of its fills.
MemberStatusValue = Literal["active", "exiting", "close_only", "defaulted"]
MemberStatus = Annotated[
    MemberStatusValue,
    Field(
        description="active; exiting: an open exit request on the vault (requestExit), only fills that reduce its "
        "positions are accepted, and once flat its IM/MM go to 0 and its withdrawals are approved; close_only: "
        "under a margin call; defaulted"
    ),
]


class MemberOut(BaseModel):
    account: int
    address: str
    name: str
    kind: str
    tier: str
    group: str
    status: MemberStatus
    parent: int | None
    instruments: list[str]


class VenuePosition(BaseModel):
    instrument: str
    venue: str
    qty: str


class NettedPosition(BaseModel):
    instrument: str
    qty: str
    mark: str | None
    notional: str | None = Field(description="qty × mark in settlement base units")
    entry_price: str | None = Field(
        description="average entry price from the member's settled fills (settlement base units per whole unit)"
    )
    unrealised_pnl: str | None = Field(description="(mark - entry_price) × qty, settlement base units")
    adl_rank: int | None = Field(
        description="place in its side's auto-deleveraging queue, most profitable first (1 = first); "
        "null when the position has no profit (ADL takes at most a position's profit)"
    )
    adl_queue_size: int = Field(description="profitable positions on this instrument and side")
    loss_socialisation_exposure: str = Field(
        description="what waterfall layers 6-7 (VM-gains haircut, ADL) took from this position, settlement "
        "base units; zero in normal times"
    )
    close_out_reason: str | None = Field(description="set when the position was closed out (defaults issue)")


class PositionsOut(BaseModel):
    account: int
    batch_sequence: int | None
    by_venue: list[VenuePosition]
    netted: list[NettedPosition]
    loss_socialisation_total: str = Field(
        description="everything layers 6-7 took from the account, including from positions closed since"
    )


class CollateralMarkOut(BaseModel):
    asset: int
    price: str
    haircut_bps: int


class CollateralAssetOut(BaseModel):
    """One collateral asset of the account: the on-chain balance valued the way the vault checks a
    withdrawal (last posted mark and haircut), next to the risk model's own haircut for this member."""

    asset: int
    balance: str = Field(description="on-chain balance, token base units")
    decimals: int | None
    price: str | None = Field(description="last posted mark: settlement base units per whole token")
    haircut_bps: int | None = Field(description="last posted haircut (the vault's)")
    value: str | None = Field(description="balance × price, settlement base units")
    haircut_value: str | None = Field(description="value after the posted haircut (what the vault counts)")
    model_haircut_bps: int | None = Field(
        description="the risk model's haircut for this member's holding at the last batch (base haircut plus "
        "concentration; the excess over the posted haircut is charged through IM)"
    )


class MarginOut(BaseModel):
    account: int
    batch_sequence: int | None
    as_of: int | None
    im: str
    mm: str
    es_core: str
    concentration_addon: str
    liquidity_addon: str
    collateral_value: str = Field(description="collateral at haircut, settlement base units")
    excess: str = Field(description="collateral_value - im (negative: short of initial margin)")
    posted_im: str | None = Field(description="what the vault was last told")
    posted_mm: str | None
    collateral_marks: list[CollateralMarkOut]
    collateral: list[CollateralAssetOut] | None = Field(
        description="per-asset breakdown from on-chain balances; null when the API has no chain connection"
    )
    collateral_value_posted: str | None = Field(
        description="sum of `haircut_value`: the account's collateral as the vault values it now"
    )
    status: MemberStatus


class MarginCallOut(BaseModel):
    """One event of a margin call's life (issue, raise, cure, default), as the batch that decided it."""

    id: int
    batch_sequence: int
    verdict: str = Field(description="issue, raise, cure or default")
    amount: str = Field(description="the call's amount after this event (0 once cured), settlement base units")
    deadline: int = Field(description="cure deadline, chain seconds")
    deep: bool = Field(description="equity below maintenance margin (not only below IM)")
    equity: str
    debt: str
    im: str
    mm: str
    as_of: int


class MarginCallsOut(BaseModel):
    items: list[MarginCallOut]
    next_cursor: int | None
    available: bool = Field(description="whether this ledger records margin calls (the defaults component)")


class WithdrawalSubmit(_Model):
    """The vault's EIP-712 WithdrawalRequest (domain "crossclear Vault"), signed by the member."""

    member: Address
    asset: int = Field(ge=0, le=2**16 - 1)
    amount: UInt
    to: Address
    nonce: Nonce = Field(description="the vault's withdrawalNonce(member)")
    deadline: int = Field(ge=0, le=JSON_SAFE_INT)
    signature: Signature


class WithdrawalOut(BaseModel):
    id: int
    account: int
    asset: int
    amount: str
    to: str
    ready_at: int
    status: str
    tx_hash: str | None = Field(
        description="the transaction that requested the withdrawal (its WithdrawalRequested event)"
    )


class CashFlowOut(BaseModel):
    id: int
    batch_sequence: int
    instrument: str | None
    kind: str
    amount: str


# ---------------------------------------------------------------- public


class TransferOut(BaseModel):
    account: int
    asset: int
    amount: str


class RequirementOut(BaseModel):
    account: int
    im: str
    mm: str


class BatchOut(BaseModel):
    sequence: int
    status: str
    digest: str
    prev_hash: str
    as_of: int
    fills_root: str
    fill_count: int
    context_hash: str
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    transfers: list[TransferOut]
    requirements: list[RequirementOut]
    collateral_marks: list[CollateralMarkOut]
    approved_withdrawals: list[str]
    context: str


class BalanceOut(BaseModel):
    asset: int
    amount: str


class ContributionOut(BaseModel):
    account: int
    target: str = Field(description="the member's Cover-2 share, settlement base units")
    contributed: str = Field(description="its contribution after the last batch that moved it")
    batch_sequence: int


class DefaultFundOut(BaseModel):
    account: int
    source: Literal["chain", "ledger"]
    balances: list[BalanceOut]
    contributions: list[ContributionOut]
    contributions_available: bool = Field(description="whether the ledger records per-member contributions")


class GroupImbalance(BaseModel):
    group: str
    net_qty: str
    gross_qty: str
    net_notional: str
    gross_notional: str
    one_sided: float = Field(description="net / gross in [-1, 1]: +1 = the whole group is long")


class InstrumentImbalance(BaseModel):
    instrument: str
    mark: str | None
    groups: list[GroupImbalance]
    platform_one_sided: float


class WaterfallEvent(BaseModel):
    id: int
    default_id: int
    defaulter: int | None
    batch_sequence: int
    source: str = Field(description="plan (the engine's plan) or chain (as settled)")
    layer: int = Field(
        description="1 margin, 2 own DF, 3 operator capital, 4 others' DF, 5 assessments, 6 VM haircut, 7 ADL"
    )
    account: int
    asset: int
    amount: str
    value: str


class WaterfallOut(BaseModel):
    items: list[WaterfallEvent]
    next_cursor: int | None
    available: bool


class InstrumentOut(BaseModel):
    name: str
    kind: str
    underlying: str
    qty_decimals: int
    clearing_fee_bps: int
    active: bool
    mark: str | None


class PriceOut(BaseModel):
    name: str = Field(description="a cleared instrument (its mark) or a collateral underlying (its index price)")
    kind: Literal["mark", "index"]
    price: str | None = Field(
        description="settlement base units per whole unit: the index of the fresh sources (the engine's rule: "
        "median after outlier rejection, quorum); null when the index halted (see halt)"
    )
    ts_ms: int | None = Field(description="the oldest observation the index used (null when halted)")
    source: str = Field(description="the sources the index was taken over, comma-separated (empty when halted)")
    price_band_bps: int | None = Field(description="marks: fills further than this from the mark are refused")
    band_low: str | None = Field(description="marks: the lowest fill price ingest accepts now (null: no mark)")
    band_high: str | None
    stale: bool | None = Field(description="marks: true when there is no fresh index now (fills get NO_MARK)")
    halt: Literal["missing", "stale", "quorum", "disagree"] | None = Field(
        default=None, description="why there is no price now (null: priced)"
    )
    detail: str | None = Field(default=None, description="the index's reason, sources and ages, when halted")


class Health(BaseModel):
    status: Literal["ok", "halted"]
    last_batch: int | None
    chain: bool = Field(description="whether this API process has a chain connection configured")
    chain_state: Literal["none", "closed", "open", "half_open"] = Field(
        description="the RPC circuit breaker: closed = calls go through; open = the RPC failed repeatedly and "
        "chain-backed routes answer 424 at once; none = no chain configured"
    )
    database: Literal["ok", "slow"]
    refused_unauthenticated: dict[str, int] = Field(
        description="per code, requests and fills refused before their sender was authenticated (nothing else "
        "of them is kept)"
    )
    halted: str | None = Field(
        default=None, description="why the settlement engine halted (its clock check); null while it runs"
    )


# ---------------------------------------------------------------- close-out auctions


class BidIn(_Model):
    """The EIP-712 `Bid` (domain `EIP712("crossclear Auctions", "1")`, see docs/defaults.md §2)."""

    auction: int = Field(ge=1, le=JSON_SAFE_INT, description="the default's id")
    tranche: int = Field(ge=0, le=2**32 - 1)
    instrument: Ident
    buy: bool = Field(description="the bidder's side: true when the defaulter sells")
    qty: PositiveUInt128 = Field(description="> 0, the instrument's quantity units")
    price: PositiveUInt128 = Field(description="> 0, settlement base units per whole unit")
    bidder: Address
    expiry: int = Field(ge=0, le=JSON_SAFE_INT, description="chain seconds")


class SignedBid(_Model):
    bid: BidIn
    signature: Signature = Field(description="the bidder's 65-byte ECDSA signature over the Bid")


class BidAckOut(BaseModel):
    bid_id: int
    status: Literal["accepted"]


class AwardOut(BaseModel):
    bidder: str
    qty: str
    price: str


class TrancheResultOut(BaseModel):
    bid_qty: str = Field(description="closed against member bids")
    residual_qty: str = Field(description="closed against the house account")
    residual_price: str | None
    awards: list[AwardOut] = Field(description="winning bids, in the order they won")


class TrancheOut(BaseModel):
    default_id: int
    tranche: int
    defaulter: int = Field(description="the defaulted member's account")
    instrument: str
    qty: str
    side: Literal["sell", "buy"] = Field(description="the defaulter's side; bidders take the other one")
    mark: str = Field(description="the mark the tranche opened at; once cleared, the mark it cleared against")
    band_low: str = Field(description="lowest bid price within the band around `mark`")
    band_high: str
    opened_at: int = Field(description="chain seconds")
    deadline: int = Field(description="chain seconds: bids are judged then")
    status: Literal["open", "cleared"]
    result: TrancheResultOut | None


class TranchesOut(BaseModel):
    items: list[TrancheOut]
    next_cursor: int | None = Field(
        description="pass as `cursor` for the next page (default_id * 2**32 + tranche); null on the last page"
    )


# ---------------------------------------------------------------- push


class WebhookIn(_Model):
    url: Annotated[str, StringConstraints(pattern=r"^https?://[!-~]+$", max_length=512)] = Field(
        description="where the member's events are POSTed"
    )


class WebhookOut(BaseModel):
    id: int
    account: int
    url: str
    secret: str = Field(description="the HMAC-SHA256 key of X-Crossclear-Signature; shown only here")
