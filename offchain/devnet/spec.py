"""The devnet description file (var/devnet.json): addresses, keys (devnet only) and the registry."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from offchain.app.settings import CollateralDef, DeploymentDescription
from offchain.config.settings import SettingsError

__all__ = ["CollateralDef", "DevnetSpec", "InstrumentDef", "MemberSpec", "VenueSpec"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberSpec(_Model):
    name: str
    kind: str  # retail_pool, market_maker, hedge_fund, dao, foundation, family_office, trust
    tier: str
    group: str  # for the platform's directional view: retail, professional, buy_side, treasury
    key: str  # devnet only: the member's EOA key (for a DAO: the key of its Safe's first owner)
    address: str
    account: int = 0


class VenueSpec(_Model):
    name: str
    kind: str
    key: str  # devnet only: the venue's fill-signing key
    address: str
    symbols: dict[str, str]  # venue symbol -> cleared instrument


class InstrumentDef(_Model):
    name: str
    kind: str
    underlying: str
    qty_decimals: int = 8
    price_band_bps: int = 500
    max_mark_jump_bps: int = 2_500
    mark_stale_ms: int = 120_000
    clearing_fee_bps: int = 1


class DevnetFileError(SettingsError, ValueError):
    """The devnet file is missing or malformed (a ValueError too, for callers that predate the hierarchy)."""


class DevnetSpec(_Model):
    rpc_url: str
    chain_id: int
    vault: str
    tokens: dict[str, str]
    assets: dict[str, int]
    operator_key: str
    signer_keys: list[str]
    threshold: int
    members: list[MemberSpec]
    venues: list[VenueSpec]
    instruments: list[InstrumentDef]
    collateral: list[CollateralDef]
    risk_asof: str  # the date whose history calibrates the risk model
    # The clearing house's close-out venue (kind "auction", symbols = the cleared instruments' own names)
    # and the house member account (the operator's own member account) that takes unbid auction remainders.
    auction_venue: VenueSpec | None = None
    house_account: int = 0
    # What `crossclear deploy` would have written for this deployment (the devnet deploys the same way).
    deployment: DeploymentDescription | None = None
    # The on-chain registry (contracts/src/Registry.sol) holding venues' keys, symbol maps, instrument
    # terms and members' tiers; "" for a devnet brought up before it existed.
    registry: str = ""
    # The URLs of the co-signer processes (offchain/devnet/cosigners.py) that verify and sign the devnet's
    # batches, one per key of `signer_keys`; empty: none run, and an engine opened on this spec signs with
    # the first `threshold` keys itself (the tests that exercise the engine alone).
    cosigners: list[str] = []

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path) -> DevnetSpec:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise DevnetFileError(f"cannot read devnet file {path}: {exc}") from exc
