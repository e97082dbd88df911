"""Bringing a devnet up: deploy, fund the default fund, admit members on-chain and in the ledger,
register venues, instruments and symbol maps."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account import Account
from pydantic import SecretStr
from web3 import Web3

from offchain.app.deploy import deploy_with
from offchain.app.settings import DeploySettings
from offchain.chain.anvil import ANVIL_KEYS
from offchain.chain.deploy import DEVNET_TOKENS, deploy_contract, deploy_registry, mint
from offchain.chain.registry import Params as RegistryParams
from offchain.chain.registry import Terms, registry_error_decoder
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, vault_sender
from offchain.config.keys import KeySource
from offchain.core.accounting import CashFlow
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT, Batch, Transfer
from offchain.core.obligations import InstrumentSpec
from offchain.defaults.auction import AUCTION_VENUE
from offchain.devnet.spec import CollateralDef, DevnetSpec, InstrumentDef, MemberSpec, VenueSpec
from offchain.ingest import registry
from offchain.ledger.batches import BatchPayload, record_batch
from offchain.ledger.handles import Engine
from offchain.settlement.margin import CollateralSpec, RiskEngineMargin, build_risk_margin

DEFAULT_INSTRUMENTS = (
    InstrumentDef(name="BTC-USD-PERP", kind="perp", underlying="BTC"),
    InstrumentDef(name="ETH-USD-PERP", kind="perp", underlying="ETH"),
)

DEFAULT_COLLATERAL = (
    CollateralDef(asset=0, symbol="USDC", decimals=6, factor=None),
    CollateralDef(asset=1, symbol="WETH", decimals=18, factor="ETH"),
    CollateralDef(asset=2, symbol="WBTC", decimals=8, factor="BTC"),
    CollateralDef(asset=3, symbol="TBILL", decimals=6, factor=None, floor=0.02),
)

# Venue symbols: each venue names the same cleared instruments its own way.
DEFAULT_VENUES = (
    ("dex-perp", "dex", {"BTC-PERP": "BTC-USD-PERP", "ETH-PERP": "ETH-USD-PERP"}),
    ("cex", "cex", {"BTCUSDT": "BTC-USD-PERP", "ETHUSDT": "ETH-USD-PERP"}),
    ("otc-desk", "otc", {"XBT/USD": "BTC-USD-PERP", "ETH/USD": "ETH-USD-PERP"}),
)


def new_key() -> tuple[str, str]:
    acct = Account.create()
    return "0x" + bytes(acct.key).hex(), str(acct.address)


def fund_gas(w3: Web3, payer_key: str, to: str, wei: int = 10**18) -> None:
    payer = Account.from_key(payer_key)
    tx = {
        "to": to,
        "value": wei,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(payer.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    h = w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction)
    w3.eth.wait_for_transaction_receipt(h)


def bring_up(
    w3: Web3,
    rpc_url: str,
    db: Engine,
    members: Sequence[tuple[str, str, str, str]],
    risk_asof: str,
    default_fund_usdc: int = 2_000_000,
    operator_capital_usdc: int = 500_000,
    house_margin_usdc: int = 250_000,
    house_tier: str = "tier1",
    registry_params: RegistryParams | None = None,
) -> DevnetSpec:
    """Deploy and register everything; `members` are (name, kind, tier, group).

    Besides the members: the clearing house's `crossclear-auction` venue (kind "auction", its key in the
    spec) and the house member account (the operator's own member account, with `house_margin_usdc` of
    margin) that takes the unbid remainder of close-out auctions."""
    operator_key = ANVIL_KEYS[0]
    signer_keys = list(ANVIL_KEYS[1:4])
    operator = vault_sender(w3, operator_key)
    signers = [RiskSigner.from_devnet_key(k, w3.eth.chain_id) for k in signer_keys]
    # What the devnet adds to a production deployment: dev tokens (and, below, funded keys and members).
    tokens = {t.symbol: deploy_contract(operator, "DevToken", t.name, t.symbol, t.decimals) for t in DEVNET_TOKENS}
    # The vault goes out exactly as `crossclear deploy` sends it; on the devnet chain the deployer may
    # govern directly (no timelock), so the dev tokens are listed at once.
    plan = DeploySettings.model_validate(
        {
            "rpc_url": rpc_url,
            "chain_id": w3.eth.chain_id,
            "deployer": KeySource(plain_key=SecretStr(operator_key)),
            "settlement_token": tokens[DEVNET_TOKENS[0].symbol],
            "guardian": operator.address,
            "operator": operator.address,
            "signers": [s.address for s in signers],
            "threshold": 2,
            # The one departure from the production defaults: the demo replays days of market history within
            # minutes of block time, so a per-day mark band would refuse its marks and a day's loosening delay
            # would hold every margin release past the run. The rules' own tests set them (VaultLoosening.t.sol).
            "loosening_delay_s": 0,
            "mark_band_bps": 0,
        }
    )
    deployment = deploy_with(w3, operator, plan)
    vault = VaultClient(w3, deployment.vault)
    assets = {DEVNET_TOKENS[0].symbol: 0}
    for token in DEVNET_TOKENS[1:]:
        mark = token.list_mark(DEVNET_TOKENS[0].decimals)  # any first price: the demo runs without a band
        assets[token.symbol] = vault.list_asset(operator, tokens[token.symbol], *mark)

    member_specs: list[MemberSpec] = []
    for name, kind, tier, group in members:
        key, address = new_key()
        fund_gas(w3, operator_key, address)
        account = vault.admit_member(operator, address)
        member_specs.append(
            MemberSpec(name=name, kind=kind, tier=tier, group=group, key=key, address=address, account=account)
        )
    venue_specs = []
    for name, kind, symbols in DEFAULT_VENUES:
        key, address = new_key()
        venue_specs.append(VenueSpec(name=name, kind=kind, key=key, address=address, symbols=symbols))
    key, address = new_key()
    auction = VenueSpec(
        name=AUCTION_VENUE,
        kind="auction",
        key=key,
        address=address,
        symbols={i.name: i.name for i in DEFAULT_INSTRUMENTS},
    )

    with db.begin() as conn:
        for ins in DEFAULT_INSTRUMENTS:
            registry.add_instrument(conn, **ins.model_dump())
        for v in [*venue_specs, auction]:
            registry.register_venue(conn, v.name, v.address, v.kind)
            registry.approve_venue(conn, v.name)
            for symbol, instrument in v.symbols.items():
                registry.map_symbol(conn, v.name, symbol, instrument)
        for m in member_specs:
            registry.admit_member(conn, m.account, m.address, m.name, m.kind, m.tier, m.group)
            for ins in DEFAULT_INSTRUMENTS:
                registry.grant(conn, m.account, ins.name)

    spec = DevnetSpec(
        rpc_url=rpc_url,
        chain_id=w3.eth.chain_id,
        vault=vault.address,
        tokens=tokens,
        assets=assets,
        operator_key=operator_key,
        signer_keys=signer_keys,
        threshold=2,
        members=member_specs,
        venues=venue_specs,
        instruments=list(DEFAULT_INSTRUMENTS),
        collateral=list(DEFAULT_COLLATERAL),
        risk_asof=risk_asof,
        auction_venue=auction,
        deployment=deployment,
    )
    house = _seed_system_accounts(w3, spec, vault, db, default_fund_usdc, operator_capital_usdc, house_margin_usdc)
    with db.begin() as conn:
        operator_address = str(Account.from_key(operator_key).address)
        registry.admit_member(conn, house, operator_address, "crossclear house", "clearing_house", house_tier, "house")
        for ins in DEFAULT_INSTRUMENTS:
            registry.grant(conn, house, ins.name)
    spec = spec.model_copy(update={"house_account": house})
    registry_address = register_on_chain(w3, spec, house_tier, registry_params or DEVNET_REGISTRY_PARAMS)
    return spec.model_copy(update={"registry": registry_address})


# The verifier's global parameters on devnet: ingest's default window (offchain/ingest/validation.py
# TimeWindow) and the shortest cure period the devnet's tests configure (tests/defaults: 4 s deep cure).
DEVNET_REGISTRY_PARAMS = RegistryParams(fill_max_age_ms=10 * 60_000, fill_max_ahead_ms=5_000, min_cure_s=4)
# Hourly funding, capped at 0.75% of notional per interval (the usual perpetual cap).
DEVNET_FUNDING_INTERVAL_S = 3600
DEVNET_FUNDING_CAP_E8 = 750_000


def register_on_chain(w3: Web3, spec: DevnetSpec, house_tier: str, params: RegistryParams) -> str:
    """Deploy the registry (governed by the operator: the devnet shortcut the vault takes too) and write
    the devnet's trust anchors there: instruments and their terms, venues with their keys (each venue
    signs its own proof of possession) and symbol maps, members' tiers. Returns its address."""
    governor = TxSender(w3, spec.operator_key, registry_error_decoder())
    reg = deploy_registry(governor, governor.address, params)
    for ins in spec.instruments:
        terms = Terms(
            qty_decimals=ins.qty_decimals,
            fee_bps=ins.clearing_fee_bps,
            price_band_bps=ins.price_band_bps,
            funding_interval_s=DEVNET_FUNDING_INTERVAL_S,
            funding_cap_e8=DEVNET_FUNDING_CAP_E8,
            tick=1,
        )
        reg.add_instrument(governor, ins.name, ins.kind, ins.underlying, terms)
    venues = [*spec.venues, *([spec.auction_venue] if spec.auction_venue is not None else [])]
    for v in venues:
        reg.add_venue(governor, v.name, v.kind, governor.address, v.key)
        for symbol, instrument in v.symbols.items():
            reg.map_symbol(governor, v.name, symbol, instrument)
    for m in spec.members:
        reg.set_member_tier(governor, m.address, m.tier)
    reg.set_member_tier(governor, governor.address, house_tier)
    return reg.address


def _seed_system_accounts(
    w3: Web3, spec: DevnetSpec, vault: VaultClient, db: Engine, df: int, capital: int, house_margin: int = 0
) -> int:
    """Fund the default fund and operator capital through the operator's own member account and one batch:
    the only way into a system account is a signed batch, so this is recorded like everything else. The
    operator's member account keeps `house_margin` USDC: the house account's margin. Returns its account."""
    operator = vault_sender(w3, spec.operator_key)
    account = vault.admit_member(operator, operator.address)
    usdc = 10**6
    mint(operator, spec.tokens["USDC"], operator.address, (df + capital + house_margin) * usdc)
    vault.deposit(operator, operator.address, 0, (df + capital + house_margin) * usdc)
    batch = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=int(w3.eth.get_block("latest")["timestamp"]),
        transfers=(
            Transfer(account=account, asset=0, amount=-(df + capital) * usdc),
            Transfer(account=DEFAULT_FUND_ACCOUNT, asset=0, amount=df * usdc),
            Transfer(account=OPERATOR_CAPITAL_ACCOUNT, asset=0, amount=capital * usdc),
        ),
    )
    signers = [RiskSigner.from_devnet_key(k, spec.chain_id) for k in spec.signer_keys]
    sent = vault.settle(operator, batch, sign_batch(batch, vault.domain, signers[: spec.threshold]))
    payload = BatchPayload(
        batch=batch,
        fill_ids=[],
        flows=[CashFlow(t.account, None, "capital", t.amount) for t in batch.transfers],
        marks_used={},
        mark_ts={},
        funding=[],
        position_changes={},
        requirements={},
        collateral_marks={},
    )
    with db.begin() as conn:
        record_batch(conn, payload, vault.domain, sent.tx_hash, int(sent.receipt["blockNumber"]), sent.gas_used)
    return account


def instrument_specs(spec: DevnetSpec) -> dict[str, InstrumentSpec]:
    return {i.name: InstrumentSpec(active=True, **i.model_dump()) for i in spec.instruments}


def collateral_specs(spec: DevnetSpec) -> list[CollateralSpec]:
    return [CollateralSpec(**c.model_dump()) for c in spec.collateral]


def risk_margin(spec: DevnetSpec) -> RiskEngineMargin:
    return build_risk_margin(instrument_specs(spec), collateral_specs(spec), spec.risk_asof)
