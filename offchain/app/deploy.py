"""`crossclear deploy`: the vault, its modules and the timelock on any EVM RPC, from `DeploySettings`.

The contracts are deployed through `offchain/chain/deploy.py` (the vault's constructor belongs to the
contracts); this module adds the timelock, checks that the node is the chain the settings name, and
describes the result without a single key in it.
"""

from __future__ import annotations

from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3

from offchain.app.settings import DeploymentDescription, DeploySettings
from offchain.chain.deploy import deploy_contract, deploy_vault
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, vault_error_decoder
from offchain.config.keys import DEVNET_CHAIN_ID, load_account
from offchain.config.settings import SettingsError


def connect(rpc_url: str, timeout_s: float = 30.0) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


def check_chain(w3: Web3, expected: int) -> None:
    actual = int(w3.eth.chain_id)
    if actual != expected:
        raise SettingsError(f"the node at the RPC URL is chain {actual}, the settings say {expected}")


def deploy(settings: DeploySettings) -> DeploymentDescription:
    """Deploy the timelock (unless devnet-governed) and the vault; return their description."""
    w3 = connect(settings.rpc_url)
    check_chain(w3, settings.chain_id)
    if settings.timelock is None and settings.chain_id != DEVNET_CHAIN_ID:
        raise SettingsError(
            f"chain {settings.chain_id}: the vault must be governed by a timelock (settings.timelock); "
            "only the devnet lets the deployer govern directly"
        )
    deployer = TxSender(w3, load_account(settings.deployer, settings.chain_id), vault_error_decoder())
    return deploy_with(w3, deployer, settings)


def deploy_with(w3: Web3, deployer: TxSender, settings: DeploySettings) -> DeploymentDescription:
    timelock = None
    if settings.timelock is not None:
        tl = settings.timelock
        timelock = deploy_contract(
            deployer,
            "Timelock",
            tl.min_delay_s,
            [to_checksum_address(a) for a in tl.proposers],
            [to_checksum_address(a) for a in tl.executors],
            "0x" + "00" * 20,  # no set-up admin: the timelock administers itself from the start
        )
    governor = timelock or deployer.address
    contracts = deploy_vault(
        deployer,
        settings.settlement_token,
        governor,
        settings.guardian,
        settings.operator,
        settings.signers,
        settings.threshold,
        settings.withdrawal_delay_s,
        settings.escape_period_s,
        settings.loosening_delay_s,
        settings.mark_band_bps,
    )
    vault = VaultClient(w3, contracts.vault)
    block = int(w3.eth.block_number)
    for name, module in contracts.modules.items():
        if not w3.eth.get_code(to_checksum_address(module)):
            raise SettingsError(f"the vault at {vault.address} has no {name} module at {module}")
    return DeploymentDescription(
        chain_id=int(w3.eth.chain_id),
        vault=vault.address,
        governor=to_checksum_address(governor),
        timelock=timelock,
        timelock_min_delay_s=None if settings.timelock is None else settings.timelock.min_delay_s,
        modules=contracts.modules,
        settlement_token=to_checksum_address(settings.settlement_token),
        guardian=to_checksum_address(settings.guardian),
        operator=to_checksum_address(settings.operator),
        signers=[to_checksum_address(s) for s in settings.signers],
        threshold=settings.threshold,
        withdrawal_delay_s=settings.withdrawal_delay_s,
        escape_period_s=settings.escape_period_s,
        loosening_delay_s=settings.loosening_delay_s,
        mark_band_bps=settings.mark_band_bps,
        deployer=deployer.address,
        block=block,
    )
