"""The auditor's final-state and solvency checks (offchain/audit/checks/solvency.py) against a real vault on
Anvil: a fresh deployment with one member who deposited and asked for a withdrawal, and replays built by
hand to match it; each check is shown to pass on the matching replay and to name the first thing that differs
on a replay changed in one place (the chain is changed only to make the vault hold more, or less, than it
owes)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from offchain.audit.checks.solvency import AssetSolvency, _calls, check_final_state
from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord, Stake
from offchain.audit.events.replay import AssetMark, Pending, VaultReplay
from offchain.chain.deploy import DEVNET_TOKENS, Deployment, VaultParams, deploy_devnet, mint
from offchain.chain.vault import vault_sender
from tests.conftest import DEPLOYER_KEY, MEMBER_KEYS, SIGNER_KEYS

pytestmark = pytest.mark.anvil

DEPOSIT = 1_000_000
WITHDRAWN = 300_000


@dataclass
class Setup:
    w3: Web3
    d: Deployment
    member: str
    account: int
    withdrawal: int
    replay: VaultReplay  # the replay that matches the chain
    block: int


@pytest.fixture(scope="module")
def setup(w3: Web3) -> Iterator[Setup]:
    snap = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    deployer = vault_sender(w3, DEPLOYER_KEY)
    signers = [vault_sender(w3, k).address for k in SIGNER_KEYS]
    d = deploy_devnet(w3, deployer, VaultParams(signers=signers, threshold=2), tokens=DEVNET_TOKENS[:2])
    member = vault_sender(w3, MEMBER_KEYS[0])
    account = d.vault.admit_member(deployer, member.address)
    mint(deployer, d.tokens["USDC"], member.address, DEPOSIT)
    d.vault.deposit(member, member.address, 0, DEPOSIT)
    withdrawal = d.vault.request_withdrawal(member, 0, WITHDRAWN, member.address)
    # A second member, admitted only: every per-member view is read for each member in its own place.
    second = vault_sender(w3, MEMBER_KEYS[1]).address
    second_account = d.vault.admit_member(deployer, second)
    replay = VaultReplay()
    replay.accounts[account] = member.address
    replay.members[member.address] = account
    replay.accounts[second_account] = second
    replay.members[second] = second_account
    replay.marks[0] = AssetMark(1_000_000, 0, 6)
    replay.marks[1] = AssetMark(0, 0, 18)
    replay.balances[(account, 0)] = DEPOSIT - WITHDRAWN
    replay.pending[withdrawal] = Pending(account, 0, WITHDRAWN)
    replay.total_owed[0] = DEPOSIT
    yield Setup(w3, d, member.address, account, withdrawal, replay, w3.eth.block_number)
    w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])


def check(s: Setup, replay: VaultReplay, block: int | None = None) -> list[AssetSolvency]:
    return check_final_state(s.w3, s.d.vault.contract, replay, s.block if block is None else block)


def refused(s: Setup, replay: VaultReplay, block: int | None = None) -> tuple[int | None, str, str]:
    with pytest.raises(Discrepancy) as exc:
        check(s, replay, block)
    return exc.value.sequence, exc.value.check, exc.value.detail


def changed(s: Setup) -> VaultReplay:
    return copy.deepcopy(s.replay)


def test_the_matching_replay_passes_and_each_asset_is_reported(setup: Setup) -> None:
    usdc, weth = setup.d.tokens["USDC"], setup.d.tokens["WETH"]
    assert setup.account == 4 and setup.replay.accounts[5] != setup.member
    assert check(setup, setup.replay) == [
        AssetSolvency(0, usdc, DEPOSIT - WITHDRAWN, WITHDRAWN, DEPOSIT, DEPOSIT),
        AssetSolvency(1, weth, 0, 0, 0, 0),
    ]
    assert [r.surplus for r in check(setup, setup.replay)] == [0, 0]


def test_the_account_and_asset_counts(setup: Setup) -> None:
    r = changed(setup)
    r.accounts[6] = "0x" + "66" * 20
    assert refused(setup, r) == (None, "accounts", "the vault has 5 accounts, the events admit 6")
    r = changed(setup)
    del r.accounts[5]
    assert refused(setup, r)[2] == "the vault has 5 accounts, the events admit 4"
    r = changed(setup)
    del r.accounts[4], r.accounts[5]
    assert refused(setup, r)[2] == "the vault has 5 accounts, the events admit 3"
    r = changed(setup)
    r.marks[2] = AssetMark(1, 0, 0)
    assert refused(setup, r) == (None, "assets", "the vault lists 2 assets, the events 3")
    r = changed(setup)
    del r.marks[1]
    assert refused(setup, r)[2] == "the vault lists 2 assets, the events 1"


def test_every_balance_of_every_account_and_asset_and_every_debt(setup: Setup) -> None:
    for account, asset in ((1, 0), (1, 1), (2, 0), (3, 1), (4, 0), (4, 1), (5, 0), (5, 1)):
        r = changed(setup)
        r.balances[(account, asset)] = r.balances.get((account, asset), 0) + 1
        want = setup.replay.balances.get((account, asset), 0)
        assert refused(setup, r) == (
            None,
            "balance",
            f"account {account} asset {asset}: replayed balance {want + 1}, balanceOf {want}",
        )
    for account in (4, 5):
        r = changed(setup)
        r.debt[account] = 7
        assert refused(setup, r) == (None, "debt", f"account {account}: replayed debt 7, debtOf 0")


def test_the_default_fund_views(setup: Setup) -> None:
    r = changed(setup)
    r.fund.value, r.fund.shares = 5, 5
    assert refused(setup, r) == (
        None,
        "pool",
        "replayed default-fund pool (value, shares) (5, 5), defaultFundPool (0, 0)",
    )
    r = changed(setup)
    r.fund.shares = 1
    assert refused(setup, r)[1] == "pool"
    r = changed(setup)
    r.fund.open = 1
    assert refused(setup, r) == (None, "default", "replayed open defaults 1, openDefaults 0")
    r = changed(setup)
    r.fund.stakes[4] = Stake(shares=1)
    r.fund.value, r.fund.shares = 0, 0
    check(setup, r)  # a stake in an empty pool is worth 0: as the vault says
    r = changed(setup)
    r.fund.defaults[4] = DefaultRecord(0, 0, 0, 0, True)
    assert refused(setup, r) == (
        None,
        "default",
        "account 4: replayed in default True (ever False), inDefault False (defaulted False)",
    )
    r = changed(setup)
    r.fund.defaulted.add(4)
    assert refused(setup, r)[2] == "account 4: replayed in default False (ever True), inDefault False (defaulted False)"
    for account in (4, 5):
        r = changed(setup)
        r.margin_calls[account] = (5, 100)
        assert refused(setup, r) == (
            None,
            "margin-call",
            f"account {account}: replayed margin call (amount, deadline) (5, 100), marginCallOf [0, 0]",
        )
    r = changed(setup)
    r.fund.defaults[5] = DefaultRecord(0, 0, 0, 0, True)
    assert refused(setup, r)[2] == "account 5: replayed in default True (ever False), inDefault False (defaulted False)"
    r = changed(setup)
    r.fund.defaulted.add(5)
    assert refused(setup, r)[2] == "account 5: replayed in default False (ever True), inDefault False (defaulted False)"


def test_what_is_owed_is_the_balances_and_pending_withdrawals(setup: Setup) -> None:
    r = changed(setup)
    r.total_owed[0] = DEPOSIT + 1
    assert refused(setup, r) == (
        None,
        "solvency",
        f"asset 0: balances {DEPOSIT - WITHDRAWN} + pending withdrawals {WITHDRAWN} != replayed amount owed "
        f"{DEPOSIT + 1}",
    )
    # A pending withdrawal the vault does not have, with the owed amount that goes with it: the replay is
    # consistent in itself, but the vault's totalOwed is not its balances + pending.
    r = changed(setup)
    r.pending[99] = Pending(4, 0, 1)
    r.total_owed[0] = DEPOSIT + 1
    assert refused(setup, r) == (
        None,
        "solvency",
        f"asset 0: totalOwed {DEPOSIT} != balances {DEPOSIT - WITHDRAWN} + pending withdrawals {WITHDRAWN + 1}",
    )
    r = changed(setup)
    r.pending[99] = Pending(4, 1, 1)  # another asset's pending withdrawal
    r.total_owed[1] = 1
    assert refused(setup, r)[2] == "asset 1: totalOwed 0 != balances 0 + pending withdrawals 1"


def test_the_vault_holds_at_least_what_it_owes(setup: Setup) -> None:
    w3, usdc = setup.w3, setup.d.tokens["USDC"]
    snap = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    try:
        # A direct transfer to the vault is a surplus, not a discrepancy.
        mint(vault_sender(w3, DEPLOYER_KEY), usdc, setup.d.vault.address, 5)
        rows = check(setup, setup.replay, w3.eth.block_number)
        assert (rows[0].held, rows[0].owed, rows[0].surplus) == (DEPOSIT + 5, DEPOSIT, 5)
        # One unit short: OpenZeppelin's ERC20 keeps balances in slot 0 (mapping(address => uint256)).
        slot = keccak(encode(["address", "uint256"], [setup.d.vault.address, 0]))
        short = (DEPOSIT - 1).to_bytes(32, "big")
        w3.provider.make_request(RPCEndpoint("anvil_setStorageAt"), [usdc, "0x" + slot.hex(), "0x" + short.hex()])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        assert refused(setup, setup.replay, w3.eth.block_number) == (
            None,
            "solvency",
            f"asset 0: the vault holds {DEPOSIT - 1} of {usdc}, owes {DEPOSIT}",
        )
        exact = DEPOSIT.to_bytes(32, "big")
        w3.provider.make_request(RPCEndpoint("anvil_setStorageAt"), [usdc, "0x" + slot.hex(), "0x" + exact.hex()])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        assert check(setup, setup.replay, w3.eth.block_number)[0].surplus == 0
        # The views are read at the audited block, not the latest one.
        assert check(setup, setup.replay)[0].held == DEPOSIT
    finally:
        w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])


def test_view_calls_run_in_chunks_of_500_in_order(setup: Setup) -> None:
    # 1001 calls: two full chunks and one of a single call; every result in its call's place.
    f = setup.d.vault.contract.functions
    calls = [f.balanceOf(4, 0) if i % 3 == 0 else f.balanceOf(1, 0) for i in range(1001)]
    out = _calls(setup.w3, calls, setup.block)
    assert [int(x) for x in out] == [DEPOSIT - WITHDRAWN if i % 3 == 0 else 0 for i in range(1001)]
    assert _calls(setup.w3, [], setup.block) == []
