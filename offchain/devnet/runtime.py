"""Opening a running devnet from its spec: the vault client, the settlement engine, the ingestor and the
auction house."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr
from web3 import HTTPProvider, Web3

from offchain.app.settings import ClockSettings, EngineSettings
from offchain.app.wiring import build_engine
from offchain.chain.chainview import VaultChainView
from offchain.chain.vault import VaultClient
from offchain.config.keys import KeySource
from offchain.core.bid import auctions_domain
from offchain.core.fills import fills_domain
from offchain.defaults.auction import AuctionParams
from offchain.defaults.house import AuctionHouse
from offchain.defaults.manager import DefaultsConfig
from offchain.devnet.bootstrap import instrument_specs
from offchain.devnet.spec import DevnetSpec
from offchain.ingest.service import Ingestor, wall_clock_ms
from offchain.ledger.handles import Engine
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import Clock
from offchain.settlement.engine import SettlementEngine


def connect(spec: DevnetSpec) -> VaultClient:
    w3 = Web3(HTTPProvider(spec.rpc_url, request_kwargs={"timeout": 30}))
    return VaultClient(w3, spec.vault)


def engine_settings(spec: DevnetSpec, db_url: str = "sqlite:///var/crossclear.db") -> EngineSettings:
    """The engine settings a devnet implies: its RPC, the operator as submitter, its co-signers' URLs (the
    engine then holds no risk key) or, on a devnet running none, the first `threshold` signer keys, as plain
    keys (allowed on the devnet chain only), and no bound on the chain's lead (devnet tests warp the chain
    forward; the engine's clock stays the wall clock)."""
    signing: dict[str, object] = (
        # a co-signer's first proposal rebuilds its risk model: generous on a loaded machine
        {"cosigners": list(spec.cosigners), "cosign_timeout_s": 180.0}
        if spec.cosigners
        else {"signers": [KeySource(plain_key=SecretStr(k)) for k in spec.signer_keys[: spec.threshold]]}
    )
    return EngineSettings.model_validate(
        {
            "db_url": db_url,
            "rpc_url": spec.rpc_url,
            "submitter": KeySource(plain_key=SecretStr(spec.operator_key)),
            **signing,
            "risk_asof": spec.risk_asof,
            "collateral": spec.collateral,
            "clock": ClockSettings(max_lead_s=None),
        }
    )


def settlement_engine(
    spec: DevnetSpec,
    db: Engine,
    config: BuilderConfig | None = None,
    defaults: DefaultsConfig | None = None,
    clock: Clock | None = None,
    exit_closeout_after_s: int | None = None,
) -> SettlementEngine:
    """The engine with default management on (margin calls, defaults, waterfall, contributions), built by
    the production wiring (offchain/app/wiring.py) from the settings the devnet implies. `clock`: the
    wall clock unless a simulation moves the chain's time and passes `ChainClock` (the demo)."""
    settings = engine_settings(spec, db.url.render_as_string(hide_password=False))
    if exit_closeout_after_s is not None:  # the close-out delay (offchain/defaults/closeout.py); else E / 4
        settings = settings.model_copy(update={"exit_closeout_after_s": exit_closeout_after_s})
    return build_engine(
        settings,
        spec.chain_id,
        spec.vault,
        db,
        instruments=instrument_specs(spec),
        builder_config=config or BuilderConfig(),
        defaults=defaults,
        clock=clock,
    )


def ingestor(spec: DevnetSpec, db: Engine, clock: Callable[[], int] = wall_clock_ms) -> Ingestor:
    """Ingest for the spec's vault. `clock`: its now in ms (the wall clock; a world that warps the chain passes
    the chain's, so fills and observations stamped in chain time are neither stale nor in its future)."""
    return Ingestor(db, fills_domain(spec.chain_id, spec.vault), clock=clock)


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
