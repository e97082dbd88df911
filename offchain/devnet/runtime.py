"""Opening a running devnet from its spec: the vault client, the settlement engine, the ingestor."""

from __future__ import annotations

from sqlalchemy import Engine
from web3 import HTTPProvider, Web3

from offchain.chain.signers import RiskSigner
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.fills import fills_domain
from offchain.devnet.bootstrap import collateral_specs, risk_margin
from offchain.devnet.spec import DevnetSpec
from offchain.ingest.service import Ingestor
from offchain.settlement.builder import BatchBuilder, BuilderConfig
from offchain.settlement.engine import SettlementEngine


def connect(spec: DevnetSpec) -> VaultClient:
    w3 = Web3(HTTPProvider(spec.rpc_url, request_kwargs={"timeout": 30}))
    return VaultClient(w3, spec.vault)


def settlement_engine(spec: DevnetSpec, db: Engine, config: BuilderConfig | None = None) -> SettlementEngine:
    vault = connect(spec)
    signers = [RiskSigner.from_devnet_key(k, spec.chain_id) for k in spec.signer_keys[: spec.threshold]]
    builder = BatchBuilder(risk_margin(spec), collateral_specs(spec), config or BuilderConfig())
    return SettlementEngine(db, vault, vault_sender(vault.w3, spec.operator_key), signers, builder)


def ingestor(spec: DevnetSpec, db: Engine) -> Ingestor:
    return Ingestor(db, fills_domain(spec.chain_id, spec.vault))
