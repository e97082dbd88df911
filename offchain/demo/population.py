"""Who takes part: one profile per member, with its kind, tier, collateral and trading strategy.

The default population has a member of every kind the design names. `--members FILE` replaces it with a
JSON list of the same objects (see docs/demo.md, "The population"), e.g.

    [{"name": "Alpha Market Making", "kind": "market_maker", "tier": "tier1", "group": "professional",
      "strategy": "dex_maker", "collateral": {"USDC": 6000000, "WBTC": 20}, "wallet_usdc": 3000000}, ...]
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from offchain.errors import CrossclearError

COLLATERAL_SYMBOLS = ("USDC", "WETH", "WBTC", "TBILL")
TIERS = ("tier1", "tier2", "tier3")


class Strategy(StrEnum):
    RETAIL_FLOW = "retail_flow"  # a venue's retail pool: buys dips and chases rallies on the DEX, net long
    DEX_MAKER = "dex_maker"  # quotes on the DEX: takes the other side of retail, ends short
    CEX_MAKER = "cex_maker"  # quotes on the CEX and prices OTC blocks
    BASIS_ARB = "basis_arb"  # sells the DEX's retail premium and buys it back on the CEX: flat across venues
    OTC_HEDGER = "otc_hedger"  # hedges an ETH treasury with short ETH perpetual blocks on the OTC desk
    OTC_BUYER = "otc_buyer"  # buys BTC perpetual blocks on the OTC desk on dips
    TREASURY = "treasury"  # a small hedge, then a withdrawal


class MemberProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kind: str  # retail_pool, market_maker, hedge_fund, dao, foundation, family_office, trust
    tier: str = "tier2"
    group: str  # for the platform's directional view: retail, professional, buy_side, treasury
    strategy: Strategy
    collateral: dict[str, float]  # deposited at the start, whole tokens
    wallet_usdc: float = 0.0  # kept outside the vault, for top-ups when margin runs short
    safe: bool = False  # the member is a Safe multisig (2-of-3 owners) and signs through EIP-1271
    size: float = 1.0  # scales the strategy's quantities

    @model_validator(mode="after")
    def _check(self) -> MemberProfile:
        if self.tier not in TIERS:
            raise ValueError(f"{self.name}: tier must be one of {', '.join(TIERS)}")
        bad = sorted(set(self.collateral) - set(COLLATERAL_SYMBOLS))
        if bad:
            raise ValueError(f"{self.name}: unknown collateral {bad}; use {', '.join(COLLATERAL_SYMBOLS)}")
        if any(v < 0 for v in self.collateral.values()) or self.wallet_usdc < 0 or self.size <= 0:
            raise ValueError(f"{self.name}: amounts must be >= 0 and size > 0")
        return self

    @property
    def tops_up(self) -> bool:
        return self.wallet_usdc > 0


DEFAULT_POPULATION: tuple[MemberProfile, ...] = (
    MemberProfile(
        name="DEX retail pool",
        kind="retail_pool",
        tier="tier2",
        group="retail",
        strategy=Strategy.RETAIL_FLOW,
        collateral={"USDC": 9_000_000},
        wallet_usdc=6_000_000,
    ),
    MemberProfile(
        name="Alpha Market Making",
        kind="market_maker",
        tier="tier1",
        group="professional",
        strategy=Strategy.DEX_MAKER,
        collateral={"USDC": 6_000_000, "WBTC": 40},
        wallet_usdc=4_000_000,
    ),
    MemberProfile(
        name="Beta Market Making",
        kind="market_maker",
        tier="tier1",
        group="professional",
        strategy=Strategy.CEX_MAKER,
        collateral={"USDC": 5_000_000, "WETH": 600},
        wallet_usdc=4_000_000,
    ),
    MemberProfile(
        name="Macro Fund",
        kind="hedge_fund",
        tier="tier2",
        group="buy_side",
        strategy=Strategy.BASIS_ARB,
        collateral={"USDC": 2_500_000, "WETH": 300},
        wallet_usdc=2_000_000,
    ),
    MemberProfile(
        name="Protocol DAO",
        kind="dao",
        tier="tier2",
        group="treasury",
        strategy=Strategy.TREASURY,
        collateral={"USDC": 1_500_000, "TBILL": 1_000_000},
        wallet_usdc=500_000,
        safe=True,
    ),
    MemberProfile(
        name="Open Source Foundation",
        kind="foundation",
        tier="tier2",
        group="treasury",
        strategy=Strategy.OTC_HEDGER,
        collateral={"USDC": 1_500_000, "WETH": 1_500},
        wallet_usdc=1_000_000,
    ),
    MemberProfile(
        name="Orchid Family Office",
        kind="family_office",
        tier="tier3",
        group="buy_side",
        strategy=Strategy.OTC_BUYER,
        # Thin on cash: its margin is mostly T-bill shares and a little WBTC, so a run of losses is paid by a
        # liquidity advance it cannot repay (no wallet): called, uncured, in default, its collateral seized (L1).
        collateral={"USDC": 100_000, "WBTC": 2, "TBILL": 1_100_000},
        wallet_usdc=0,
    ),
)


class PopulationError(CrossclearError, ValueError):
    """The members file cannot be used."""


def load_population(path: Path | None) -> tuple[MemberProfile, ...]:
    if path is None:
        return DEFAULT_POPULATION
    try:
        raw = json.loads(path.read_text())
        members = tuple(MemberProfile.model_validate(m) for m in raw)
    except (OSError, ValueError, TypeError, ValidationError) as exc:
        raise PopulationError(f"cannot read members file {path}: {exc}") from exc
    check_population(members)
    return members


def check_population(members: tuple[MemberProfile, ...]) -> None:
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise PopulationError("member names must be unique")
    makers = [m for m in members if m.strategy in (Strategy.DEX_MAKER, Strategy.CEX_MAKER)]
    if not makers:
        raise PopulationError("the population needs at least one market maker (dex_maker or cex_maker)")
    if sum(m.safe for m in members) > 1:
        raise PopulationError("at most one member may be a Safe")
