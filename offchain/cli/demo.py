"""The local demo: a real Anvil chain, the vault, members, one signed netted batch, a withdrawal.

Later issues grow this into the full real-history story (venues, margin, a default, the auditor).
"""

from __future__ import annotations

import sys
import time

from web3 import Web3

from offchain.chain.anvil import ANVIL_KEYS, Anvil
from offchain.chain.deploy import Deployment, VaultParams, deploy_devnet, mint
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.transactions import TxSender
from offchain.chain.vault import vault_sender
from offchain.core.batch import Batch, Mark, Requirement, Transfer

USDC = 10**6
WETH = 10**18


def _say(step: str, detail: str = "") -> None:
    if sys.stdout.isatty():
        print(f"  \033[1;32m✓\033[0m {step}" + (f"  \033[2m{detail}\033[0m" if detail else ""), flush=True)
    else:
        print(f"  ✓ {step}" + (f"  ({detail})" if detail else ""), flush=True)


def _now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _usd(base_units: int) -> str:
    return f"${base_units / USDC:,.2f}"


def run_demo(port: int | None = None) -> int:
    started = time.monotonic()
    print("crossclear demo: cross-venue clearing on a real local chain\n")
    with Anvil(port=port) as chain:
        w3 = chain.web3()
        _say("Anvil running", f"{chain.url}, chain id {w3.eth.chain_id}")
        operator = vault_sender(w3, ANVIL_KEYS[0])
        signers = [RiskSigner.from_devnet_key(k, w3.eth.chain_id) for k in ANVIL_KEYS[1:4]]
        d = deploy_devnet(w3, operator, VaultParams(signers=[s.address for s in signers], threshold=2))
        _say("vault deployed", f"{d.vault.address}, 2-of-3 risk signers, tokens {', '.join(d.tokens)}")
        return _story(w3, d, operator, signers, started)


def _story(w3: Web3, d: Deployment, operator: TxSender, signers: list[RiskSigner], started: float) -> int:
    vault = d.vault
    maker = vault_sender(w3, ANVIL_KEYS[4])  # a professional market maker, net short
    fund = vault_sender(w3, ANVIL_KEYS[5])  # a hedge fund, net long
    m_acct = vault.admit_member(operator, maker.address)
    f_acct = vault.admit_member(operator, fund.address)
    _say("members admitted", f"market maker = account {m_acct}, hedge fund = account {f_acct}")

    mint(operator, d.tokens["USDC"], maker.address, 250_000 * USDC)
    mint(operator, d.tokens["USDC"], fund.address, 100_000 * USDC)
    mint(operator, d.tokens["WETH"], fund.address, 40 * WETH)
    vault.deposit(maker, maker.address, d.assets["USDC"], 250_000 * USDC)
    vault.deposit(fund, fund.address, d.assets["USDC"], 100_000 * USDC)
    vault.deposit(fund, fund.address, d.assets["WETH"], 40 * WETH)
    _say("collateral deposited", "maker 250,000 USDC; fund 100,000 USDC + 40 WETH")

    # The fund bought 10 BTC-USD-PERP on a DEX and sold 4 on a CEX: net long 6. BTC fell $1,500, so
    # the fund pays 6 × 1,500 = $9,000 of variation margin, netted into one transfer each way.
    vm = 6 * 1_500 * USDC
    batch = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=_now(w3),
        transfers=(
            Transfer(account=f_acct, asset=0, amount=-vm),
            Transfer(account=m_acct, asset=0, amount=vm),
        ),
        requirements=(
            Requirement(account=f_acct, im=60_000 * USDC, mm=42_000 * USDC),
            Requirement(account=m_acct, im=60_000 * USDC, mm=42_000 * USDC),
        ),
        marks=(Mark(asset=d.assets["WETH"], haircut_bps=1_800, price=3_000 * USDC),),
    )
    sigs = sign_batch(batch, vault.domain, signers[:2])
    sent = vault.settle(operator, batch, sigs)
    _say(
        f"batch {batch.sequence} settled",
        f"2 netted transfers ({_usd(vm)} variation margin), signed by 2 of 3, gas {sent.gas_used:,}",
    )
    _say(
        "margin on-chain",
        f"fund free collateral {_usd(vault.free_collateral(f_acct))} "
        f"(cash {_usd(vault.balance(f_acct, 0))} + 40 WETH at 18% haircut − IM $60,000)",
    )

    wid = vault.request_withdrawal(maker, 0, 50_000 * USDC, maker.address)
    approval = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=_now(w3),
        approved_withdrawals=(wid,),
    )
    vault.settle(operator, approval, sign_batch(approval, vault.domain, signers[1:3]))
    vault.execute_withdrawal(maker, wid)
    _say("withdrawal executed", f"maker took out $50,000 at once: batch {approval.sequence} co-signed it")

    usdc = vault.token(0)
    held = usdc.functions.balanceOf(vault.address).call()
    owed = vault.total_owed(0)
    _say("solvency", f"vault holds {_usd(held)} USDC, owes {_usd(owed)}")
    if held < owed:
        print("demo failed: the vault holds less than it owes")
        return 1
    print(f"\ndone in {time.monotonic() - started:.1f} s")
    return 0
