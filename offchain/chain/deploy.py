"""Deploying the vault and devnet tokens from the exported artefacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_utils import to_checksum_address
from web3 import Web3

from offchain.chain.artifacts import load_artifact
from offchain.chain.loosening import DEFAULT_LOOSENING_DELAY_S, DEFAULT_MARK_BAND_BPS
from offchain.chain.registry import Params as RegistryParams
from offchain.chain.registry import RegistryClient
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient


def deploy_contract(sender: TxSender, name: str, *args: object) -> str:
    artifact = load_artifact(name)
    factory = sender.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    sent = sender.send(factory.constructor(*args))
    address = sent.receipt["contractAddress"]
    if address is None:
        raise RuntimeError(f"deploying {name} returned no contract address")
    return str(address)


@dataclass(frozen=True)
class VaultContracts:
    """The vault and the modules it delegates to (name -> address)."""

    vault: str
    modules: dict[str, str]


def deploy_vault(
    deployer: TxSender,
    settlement_token: str,
    governor: str,
    guardian: str,
    operator: str,
    signers: Sequence[str],
    threshold: int,
    withdrawal_delay: int,
    escape_period: int,
    loosening_delay: int,
    mark_band_bps: int,
) -> VaultContracts:
    """The one way a vault is deployed (devnet and `crossclear deploy` alike): the extension module first (its
    constructor deploys VaultDefaults; the three contracts' creation code together exceeds EIP-3860's initcode
    limit), then the vault, which takes the extension's address. The loosening rules (`loosening_delay`,
    `mark_band_bps`) go to the constructor, so they bind from the first block whoever governs (a timelock
    could only set them after its own delay)."""
    extension = deploy_contract(deployer, "VaultExtension")
    vault = deploy_contract(
        deployer,
        "Vault",
        to_checksum_address(settlement_token),
        to_checksum_address(governor),
        to_checksum_address(guardian),
        to_checksum_address(operator),
        [to_checksum_address(s) for s in signers],
        threshold,
        withdrawal_delay,
        escape_period,
        loosening_delay,
        mark_band_bps,
        extension,
    )
    ext = deployer.w3.eth.contract(address=to_checksum_address(extension), abi=load_artifact("VaultExtension").abi)
    defaults = str(ext.functions.defaultsModule().call())
    return VaultContracts(vault, {"VaultExtension": extension, "VaultDefaults": defaults})


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    name: str
    decimals: int
    # The first mark governance lists a collateral with (the vault refuses a listing without one): whole
    # settlement units per whole token, and a haircut. The mark band anchors on that price for the listing's
    # period, so the engine's first mark may be at most the band above it (any fall is free). Haircut 0: the
    # engine's first batch raises it to the model's at once (a lower haircut than the listing's would wait
    # the loosening delay). Ignored for the settlement asset (one whole unit, haircut 0).
    list_price: int = 1
    list_haircut_bps: int = 0

    def list_mark(self, settlement_decimals: int) -> tuple[int, int]:
        """(price in settlement base units per whole token, haircut bps) for `VaultClient.list_asset`."""
        return self.list_price * 10**settlement_decimals, self.list_haircut_bps


# The demo's collateral: a USD stablecoin (the settlement asset) first, then listed collateral, at round
# devnet prices (the T-bill share at par, as the engine prices it).
DEVNET_TOKENS = (
    TokenSpec("USDC", "USD Coin (devnet)", 6),
    TokenSpec("WETH", "Wrapped Ether (devnet)", 18, list_price=3_000),
    TokenSpec("WBTC", "Wrapped Bitcoin (devnet)", 8, list_price=60_000),
    TokenSpec("TBILL", "Tokenized T-bill fund share (devnet)", 6, list_price=1),
)


@dataclass(frozen=True)
class VaultParams:
    signers: Sequence[str]
    threshold: int
    withdrawal_delay: int = 3600
    escape_period: int = 7 * 24 * 3600
    loosening_delay: int = DEFAULT_LOOSENING_DELAY_S
    mark_band_bps: int = DEFAULT_MARK_BAND_BPS


@dataclass
class Deployment:
    vault: VaultClient
    tokens: dict[str, str]  # symbol -> token address
    assets: dict[str, int]  # symbol -> vault asset number
    token_specs: dict[str, TokenSpec] = field(default_factory=dict)


def deploy_devnet(
    w3: Web3,
    deployer: TxSender,
    params: VaultParams,
    tokens: Sequence[TokenSpec] = DEVNET_TOKENS,
    guardian: str | None = None,
    operator: str | None = None,
) -> Deployment:
    """Deploy devnet tokens and the vault; list every token at its `TokenSpec` first mark. The deployer is
    governor (a devnet shortcut: on a real chain the governor is a TimelockController, see docs/operators.md)."""
    addresses = {t.symbol: deploy_contract(deployer, "DevToken", t.name, t.symbol, t.decimals) for t in tokens}
    settlement = tokens[0].symbol
    vault_address = deploy_vault(
        deployer,
        addresses[settlement],
        deployer.address,
        guardian or deployer.address,
        operator or deployer.address,
        params.signers,
        params.threshold,
        params.withdrawal_delay,
        params.escape_period,
        params.loosening_delay,
        params.mark_band_bps,
    ).vault
    vault = VaultClient(w3, vault_address)
    assets = {settlement: 0}
    for t in tokens[1:]:
        assets[t.symbol] = vault.list_asset(deployer, addresses[t.symbol], *t.list_mark(tokens[0].decimals))
    return Deployment(vault, addresses, assets, {t.symbol: t for t in tokens})


def mint(sender: TxSender, token: str, to: str, amount: int) -> None:
    contract = sender.w3.eth.contract(address=to_checksum_address(token), abi=load_artifact("DevToken").abi)
    sender.send(contract.functions.mint(to_checksum_address(to), amount))


def deploy_registry(sender: TxSender, governor: str, params: RegistryParams) -> RegistryClient:
    """Deploy the registry (contracts/src/Registry.sol) governed by `governor`: on a real chain the
    vault's TimelockController, on devnet the deployer (the same shortcut as the vault's)."""
    address = deploy_contract(sender, "Registry", to_checksum_address(governor), params.as_tuple())
    return RegistryClient(sender.w3, address)
