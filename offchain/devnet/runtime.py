"""Opening a running devnet from its spec: the vault client, the settlement engine, the ingestor and the
auction house."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from web3 import HTTPProvider, Web3

from offchain.chain.signers import RiskSigner
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.bid import auctions_domain
from offchain.core.fills import fills_domain
from offchain.defaults.auction import AuctionParams
from offchain.defaults.house import AuctionHouse
from offchain.defaults.manager import DefaultManager, DefaultsConfig
from offchain.devnet.bootstrap import collateral_specs, risk_margin
from offchain.devnet.spec import DevnetSpec
from offchain.ingest.service import Ingestor, wall_clock_ms
from offchain.settlement.builder import BatchBuilder, BuilderConfig
from offchain.settlement.chainview import VaultChainView
from offchain.settlement.engine import SettlementEngine


def connect(spec: DevnetSpec) -> VaultClient:
    w3 = Web3(HTTPProvider(spec.rpc_url, request_kwargs={"timeout": 30}))
    return VaultClient(w3, spec.vault)


def settlement_engine(
    spec: DevnetSpec, db: Engine, config: BuilderConfig | None = None, defaults: DefaultsConfig | None = None
) -> SettlementEngine:
    """The engine with default management on (margin calls, defaults, waterfall, contributions): its chain
    view is the vault's `VaultFundView` and it stores the vault's WaterfallDraw events as batches confirm."""
    vault = connect(spec)
    signers = [RiskSigner.from_devnet_key(k, spec.chain_id) for k in spec.signer_keys[: spec.threshold]]
    builder = BatchBuilder(
        risk_margin(spec),
        collateral_specs(spec),
        config or BuilderConfig(),
        defaults=DefaultManager(defaults or DefaultsConfig()),
    )
    return SettlementEngine(db, vault, vault_sender(vault.w3, spec.operator_key), signers, builder)


def ingestor(spec: DevnetSpec, db: Engine) -> Ingestor:
    return Ingestor(db, fills_domain(spec.chain_id, spec.vault))


def auction_house(
    spec: DevnetSpec,
    db: Engine,
    params: AuctionParams | None = None,
    ingest: Ingestor | None = None,
    fill_clock_ms: Callable[[], int] = wall_clock_ms,
) -> AuctionHouse:
    """The close-out auction service: bids and tranche times in chain seconds, fills signed by the spec's
    `crossclear-auction` key and sent through ingest; unbid remainders go to the house account.
    `fill_clock_ms`: the auction fills' timestamps (wall clock; a chain whose clock runs ahead of the
    wall, like the demo's, passes its own so the fills fall inside ingest's window)."""
    if spec.auction_venue is None or not spec.house_account:
        raise ValueError("this devnet has no auction venue or house account (bring it up again)")
    chain = VaultChainView(connect(spec))
    return AuctionHouse(
        db,
        ingest or ingestor(spec, db),
        spec.auction_venue.key,
        fills_domain(spec.chain_id, spec.vault),
        auctions_domain(spec.chain_id, spec.vault),
        spec.house_account,
        params,
        clock=chain.chain_time,
        fill_clock_ms=fill_clock_ms,
        venue=spec.auction_venue.name,
    )
