"""The one wiring module: the settlement engine, its risk signers and its leader lock, built from settings.

`crossclear engine --config FILE` (leader and standby alike), the devnet (offchain/devnet/runtime.py), the
demo and the tests all build the engine here, so nothing is tested only through a devnet shortcut: the
devnet's only difference is that its `KeySource`s are plain keys, which `load_account` allows on its chain
id alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from web3 import Web3

from offchain.app.deploy import check_chain, connect
from offchain.app.settings import ApiNodeSettings, DeploymentDescription, EngineSettings, FeedSettings, HttpSourceDef
from offchain.chain.signers import RiskSigner
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, vault_error_decoder
from offchain.config.keys import KeySource, load_account
from offchain.config.settings import SettingsError
from offchain.core.obligations import InstrumentSpec
from offchain.defaults.closeout import closeout_delay
from offchain.defaults.manager import DefaultManager, DefaultsConfig
from offchain.ledger.handles import Engine
from offchain.ledger.instruments import load_instruments
from offchain.ledger.leader import LeaderLock, leader_lock
from offchain.marketdata.sources import PriceAdapter
from offchain.settlement.builder import BatchBuilder, BuilderConfig
from offchain.settlement.clock import Clock, ClockRule
from offchain.settlement.engine import Observer, SettlementEngine, StepResult
from offchain.settlement.margin import CollateralSpec, RiskEngineMargin, build_risk_margin

if TYPE_CHECKING:
    from offchain.api.config import ApiSettings

log = logging.getLogger("crossclear.app")


def node_name() -> str:
    """This process, as the engine status row names its leader."""
    return f"{socket.gethostname()}:{os.getpid()}"


def deployment_of(settings: EngineSettings) -> DeploymentDescription:
    if settings.deployment is None:
        raise SettingsError('the engine settings name no deployment description (`deployment = "FILE"`)')
    return DeploymentDescription.load(settings.deployment)


def risk_signers(settings: EngineSettings, chain_id: int) -> list[RiskSigner]:
    return [RiskSigner(load_account(s, chain_id)) for s in settings.signers]


def risk_margin(
    settings: EngineSettings, db: Engine, instruments: Mapping[str, InstrumentSpec] | None = None
) -> RiskEngineMargin:
    """The risk model the engine margins with, calibrated as of `settings.risk_asof` on the ledger's active
    instruments (or `instruments`) and the settings' collateral. The API's ingest checks position limits on
    the same model (its tier table and each instrument's depth)."""
    if instruments is None:
        with db.connect() as conn:
            instruments = {n: i for n, i in load_instruments(conn).items() if i.active}
    collateral = [CollateralSpec(**c.model_dump()) for c in settings.collateral]
    return build_risk_margin(instruments, collateral, settings.risk_asof)


def build_engine(
    settings: EngineSettings,
    chain_id: int,
    vault_address: str,
    db: Engine,
    *,
    instruments: Mapping[str, InstrumentSpec] | None = None,
    builder_config: BuilderConfig | None = None,
    defaults: DefaultsConfig | None = None,
    clock: Clock | None = None,
    observer: Observer | None = None,
    w3: Web3 | None = None,
) -> SettlementEngine:
    """The settlement engine with default management on, its risk model calibrated as of
    `settings.risk_asof` on the ledger's instruments (or `instruments`) and the settings' collateral."""
    w3 = w3 or connect(settings.rpc_url, settings.rpc_timeout_s)
    check_chain(w3, chain_id)
    vault = VaultClient(w3, vault_address)
    submitter = TxSender(w3, load_account(settings.submitter, chain_id), vault_error_decoder())
    collateral = [CollateralSpec(**c.model_dump()) for c in settings.collateral]
    engine_defaults = defaults or DefaultsConfig()
    # Refuse a close-out delay that leaves the auction no time before the vault's escape period ends.
    closeout_delay(
        vault.escape_period(), vault.loosening_delay(), engine_defaults.auction, settings.exit_closeout_after_s
    )
    builder = BatchBuilder(
        risk_margin(settings, db, instruments),
        collateral,
        builder_config
        or BuilderConfig(
            max_fills=settings.max_fills,
            heartbeat_s=settings.heartbeat_s,
            settlement_decimals=settings.settlement_decimals,
        ),
        defaults=DefaultManager(engine_defaults),
    )
    rule = ClockRule(max_lead_s=settings.clock.max_lead_s, max_lag_s=settings.clock.max_lag_s)
    cosigners = None
    if settings.cosigners:  # the engine proposes; the co-signers verify and sign (offchain/cosign)
        from offchain.cosign.client import RemoteCosigners

        threshold = int(vault.contract.functions.threshold().call())
        cosigners = RemoteCosigners(settings.cosigners, threshold, db, vault.domain, settings.cosign_timeout_s)
    return SettlementEngine(
        db,
        vault,
        submitter,
        risk_signers(settings, chain_id),
        builder,
        clock=clock,
        clock_rule=rule,
        node=node_name(),
        observer=observer,
        cosigners=cosigners,
        exit_closeout_after_s=settings.exit_closeout_after_s,
    )


def engine_lock(settings: EngineSettings, db: Engine, vault_address: str) -> LeaderLock:
    return leader_lock(db, vault_address, settings.leader.poll_s)


def run_node(
    engine: SettlementEngine,
    lock: LeaderLock,
    interval_s: float,
    stop: Callable[[], bool],
    on_step: Callable[[StepResult], None] | None = None,
) -> bool:
    """Stand by until this node holds the vault's leader lock, then step until `stop()`. Returns whether it
    led. Raises LeadershipLost the moment the lock is gone (the process must exit: a standby takes over)."""
    log.info("standby: waiting for the vault's leader lock", extra={"vault": engine.vault.address})
    if not lock.acquire(stop):
        return False
    log.info("leading: this node settles the vault", extra={"vault": engine.vault.address, "node": engine.node})
    try:
        engine.run(interval_s, stop=stop, on_step=on_step, guard=lock.check)
    finally:
        lock.release()
    return True


def price_sources(settings: FeedSettings) -> list[PriceAdapter]:
    """The feeder's adapters for the settings' sources: HTTP endpoints (httpx, with the source's timeout)
    and Chainlink aggregators (web3)."""
    import httpx

    from offchain.marketdata.sources import ChainlinkSource, HttpJsonSource

    out: list[PriceAdapter] = []
    for h in settings.http:

        def fetch(symbol: str, h: HttpSourceDef = h) -> dict[str, Any]:
            answer = httpx.get(h.url.format(symbol=symbol), timeout=h.timeout_s)
            answer.raise_for_status()
            return dict(answer.json())

        out.append(HttpJsonSource(h.name, h.symbols, fetch, signer=h.signer, decimals=h.decimals))
    for c in settings.chainlink:
        out.append(ChainlinkSource(c.name, Web3(Web3.HTTPProvider(c.rpc_url)), c.feeds, decimals=c.decimals))
    return out


def api_settings(node: ApiNodeSettings, env: Mapping[str, str] | None = None) -> ApiSettings:
    """The API's settings for a deployment: chain id, vault and operator from its description, the RPC and
    the relayer's key from `node`; the rest from `CROSSCLEAR_API_*` (`env`, default the process's)."""
    from offchain.api.config import ApiSettings

    deployment = DeploymentDescription.load(node.deployment)
    overrides: dict[str, object] = {
        "db_url": node.db_url,
        "chain_id": deployment.chain_id,
        "vault": deployment.vault,
        "rpc_url": node.rpc_url,
        "operator_address": deployment.operator,
    }
    if node.relayer is not None:
        overrides["relayer_key"] = "0x" + bytes(load_account(node.relayer, deployment.chain_id).key).hex()
    settings = ApiSettings.from_env(env, overrides=overrides)
    if node.relayer is None and settings.relayer_key is not None:
        # A relayer key from `CROSSCLEAR_API_RELAYER_KEY` is a plain key: the one rule for those (devnet only)
        # applies to it as to every other key, or the environment would be a way around the keystore.
        load_account(KeySource(plain_key=settings.relayer_key), deployment.chain_id)
    return settings
