"""The Python chain layer against the real vault on a real Anvil chain."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from web3 import Web3
from web3.types import RPCEndpoint

from offchain.chain.anvil import ANVIL_KEYS
from offchain.chain.deploy import Deployment, VaultParams, mint
from offchain.chain.errors import RevertedError
from offchain.chain.loosening import DEFAULT_LOOSENING_DELAY_S, DEFAULT_MARK_BAND_BPS
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, Batch, Mark, Requirement, Transfer
from tests.conftest import DEPLOYER_KEY, MEMBER_KEYS, deployer_sender
from tests.core.test_batch_encoding import batches

pytestmark = pytest.mark.anvil

USDC = 10**6


def increase_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def fund_members(w3: Web3, d: Deployment, n: int, usdc: int, first: int = 0) -> list[tuple[str, int]]:
    """Admit n members (from MEMBER_KEYS[first]) and deposit `usdc` dollars of cash for each."""
    deployer = deployer_sender(w3)
    out = []
    for key in MEMBER_KEYS[first : first + n]:
        member = vault_sender(w3, key)
        account = d.vault.admit_member(deployer, member.address)
        mint(deployer, d.tokens["USDC"], member.address, usdc * USDC)
        d.vault.deposit(member, member.address, 0, usdc * USDC)
        out.append((key, account))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches)
def test_python_digest_equals_contract(deployment: Deployment, batch: Batch) -> None:
    assert deployment.vault.chain_digest(batch) == batch.digest(deployment.vault.domain)


def test_settle_netted_batch_and_read_it_back(w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]) -> None:
    vault = deployment.vault
    (_, a), (_, b) = fund_members(w3, deployment, 2, 10_000)
    batch = Batch(
        sequence=1,
        prev_hash=b"\0" * 32,
        as_of=now(w3),
        fills_root=b"\x42" * 32,
        transfers=(
            Transfer(account=a, asset=0, amount=-1_250 * USDC),
            Transfer(account=b, asset=0, amount=1_250 * USDC),
        ),
        requirements=(Requirement(account=a, im=2_000 * USDC, mm=1_000 * USDC),),
        marks=(Mark(asset=1, haircut_bps=1_500, price=3_000 * USDC),),
    )
    sigs = sign_batch(batch, vault.domain, risk_signers[:2])
    vault.settle(deployer_sender(w3), batch, sigs)

    assert vault.last_sequence() == 1
    assert vault.last_batch_hash() == batch.digest(vault.domain)
    assert vault.balance(a, 0) == 8_750 * USDC
    assert vault.balance(b, 0) == 11_250 * USDC
    assert vault.free_collateral(a) == (8_750 - 2_000) * USDC

    (settled,) = vault.settled_batches()
    assert settled.batch == batch
    assert settled.digest == batch.digest(vault.domain)
    assert [s.signer for s in settled.signatures] == [s.signer for s in sigs]


def test_replayed_sequence_is_refused_with_its_custom_error(
    w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]
) -> None:
    vault = deployment.vault
    batch = Batch(sequence=2, prev_hash=b"\0" * 32, as_of=now(w3))
    with pytest.raises(RevertedError) as info:
        vault.settle(deployer_sender(w3), batch, sign_batch(batch, vault.domain, risk_signers[:2]))
    assert info.value.error == "BadSequence"
    assert info.value.args == (1, 2)


def test_under_threshold_is_refused(w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]) -> None:
    vault = deployment.vault
    batch = Batch(sequence=1, prev_hash=b"\0" * 32, as_of=now(w3))
    with pytest.raises(RevertedError) as info:
        vault.settle(deployer_sender(w3), batch, sign_batch(batch, vault.domain, risk_signers[:1]))
    assert info.value.error == "BelowThreshold"


def test_liquidity_advance_and_repayment(w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]) -> None:
    vault = deployment.vault
    (_, a), (_, b) = fund_members(w3, deployment, 2, 1_000)
    deployer = deployer_sender(w3)
    # Fund the default fund with 50,000 USDC through a settled transfer from a rich member.
    ((_, rich),) = fund_members(w3, deployment, 1, 50_000, first=2)
    seq1 = Batch(
        sequence=1,
        prev_hash=b"\0" * 32,
        as_of=now(w3),
        transfers=(
            Transfer(account=rich, asset=0, amount=-50_000 * USDC),
            Transfer(account=DEFAULT_FUND_ACCOUNT, asset=0, amount=50_000 * USDC),
        ),
    )
    vault.settle(deployer, seq1, sign_batch(seq1, vault.domain, risk_signers[:2]))
    # a loses 1,300 with only 1,000 cash: 300 is advanced by the default fund and becomes a's debt.
    seq2 = Batch(
        sequence=2,
        prev_hash=seq1.digest(vault.domain),
        as_of=now(w3),
        transfers=(
            Transfer(account=a, asset=0, amount=-1_300 * USDC),
            Transfer(account=b, asset=0, amount=1_300 * USDC),
        ),
    )
    vault.settle(deployer, seq2, sign_batch(seq2, vault.domain, risk_signers[1:3]))
    assert vault.balance(a, 0) == 0
    assert vault.debt(a) == 300 * USDC
    assert vault.balance(DEFAULT_FUND_ACCOUNT, 0) == 49_700 * USDC
    # a's next credit of 500 repays the 300 first.
    seq3 = Batch(
        sequence=3,
        prev_hash=seq2.digest(vault.domain),
        as_of=now(w3),
        transfers=(
            Transfer(account=a, asset=0, amount=500 * USDC),
            Transfer(account=b, asset=0, amount=-500 * USDC),
        ),
    )
    vault.settle(deployer, seq3, sign_batch(seq3, vault.domain, risk_signers[:2]))
    assert vault.debt(a) == 0
    assert vault.balance(a, 0) == 200 * USDC
    assert vault.balance(DEFAULT_FUND_ACCOUNT, 0) == 50_000 * USDC
    assert vault.total_owed(0) == 52_000 * USDC


def test_withdrawal_after_delay_and_instant_by_batch(
    w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]
) -> None:
    vault = deployment.vault
    ((key_a, a),) = fund_members(w3, deployment, 1, 5_000)
    member = vault_sender(w3, key_a)
    usdc = vault.token(0)

    wid = vault.request_withdrawal(member, 0, 1_000 * USDC, member.address)
    with pytest.raises(RevertedError) as info:
        vault.execute_withdrawal(member, wid)
    assert info.value.error == "WithdrawalNotReady"
    increase_time(w3, 3_601)
    before = usdc.functions.balanceOf(member.address).call()
    vault.execute_withdrawal(vault_sender(w3, ANVIL_KEYS[9]), wid)  # anyone may execute
    assert usdc.functions.balanceOf(member.address).call() - before == 1_000 * USDC
    assert vault.withdrawal(wid).status == "executed"

    # Instant path: the engine co-signs the pending request in the next batch, within the asset's outflow
    # budget (in force from the next period); beyond it the approval is skipped and the delay stands.
    vault.set_outflow_budget(deployer_sender(w3), 0, 600 * USDC)
    increase_time(w3, vault.outflow_period())
    wid2 = vault.request_withdrawal(member, 0, 500 * USDC, member.address)
    wid3 = vault.request_withdrawal(member, 0, 200 * USDC, member.address)
    approvals = (vault.approval(wid2), vault.approval(wid3))
    batch = Batch(sequence=1, prev_hash=b"\0" * 32, as_of=now(w3), approved_withdrawals=approvals)
    vault.settle(deployer_sender(w3), batch, sign_batch(batch, vault.domain, risk_signers[:2]))
    vault.execute_withdrawal(member, wid2)
    with pytest.raises(RevertedError) as info:
        vault.execute_withdrawal(member, wid3)  # 500 + 200 > 600: it waits for its delay
    assert info.value.error == "WithdrawalNotReady"
    vault.cancel_withdrawal(member, wid3)
    assert vault.balance(a, 0) == 3_500 * USDC
    assert vault.total_owed(0) == usdc.functions.balanceOf(vault.address).call()


def test_withdrawal_beyond_free_collateral_is_refused(
    w3: Web3, deployment: Deployment, risk_signers: list[RiskSigner]
) -> None:
    vault = deployment.vault
    ((key_a, a),) = fund_members(w3, deployment, 1, 5_000)
    batch = Batch(
        sequence=1,
        prev_hash=b"\0" * 32,
        as_of=now(w3),
        requirements=(Requirement(account=a, im=4_000 * USDC, mm=2_000 * USDC),),
    )
    vault.settle(deployer_sender(w3), batch, sign_batch(batch, vault.domain, risk_signers[:2]))
    member = vault_sender(w3, key_a)
    with pytest.raises(RevertedError) as info:
        vault.request_withdrawal(member, 0, 1_001 * USDC, member.address)
    assert info.value.error == "InsufficientMargin"
    vault.request_withdrawal(member, 0, 1_000 * USDC, member.address)
    assert vault.free_collateral(a) == 0


def test_devnet_key_refused_off_devnet() -> None:
    from offchain.chain.signers import SignerKeyError

    with pytest.raises(SignerKeyError, match="devnet only"):
        RiskSigner.from_devnet_key(DEPLOYER_KEY, 1)


def test_deployed_vault_has_the_default_loosening_rules(deployment: Deployment) -> None:
    # deploy_devnet goes through deploy_vault, as `crossclear deploy` does: the constructor sets both rules
    delay, band = deployment.vault.contract.functions.loosening().call()
    assert (delay, band) == (DEFAULT_LOOSENING_DELAY_S, DEFAULT_MARK_BAND_BPS)
    assert delay >= VaultParams(signers=[], threshold=1).withdrawal_delay  # the trust model's L >= D
