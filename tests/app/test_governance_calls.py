"""Governed calls are encoded exactly as the contracts decode them (no chain needed for the encoding)."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from offchain.app.governance import Governance, GovernanceError
from offchain.app.settings import DeploymentDescription

VAULT = "0x" + "aa" * 20
TIMELOCK = "0x" + "bb" * 20


def governance() -> Governance:
    w3 = Web3()  # no provider: encoding only
    d = DeploymentDescription(
        chain_id=1, vault=Web3.to_checksum_address(VAULT), governor=Web3.to_checksum_address(TIMELOCK),
        timelock=Web3.to_checksum_address(TIMELOCK), timelock_min_delay_s=86_400, modules={},
        settlement_token="0x" + "cc" * 20, guardian="0x" + "dd" * 20, operator="0x" + "ee" * 20,
        signers=[], threshold=1, withdrawal_delay_s=3600, escape_period_s=604_800, deployer="0x" + "ff" * 20, block=0,
    )  # fmt: skip
    return Governance(w3, d)


def test_vault_changes_decode_back_to_their_calls() -> None:
    gov = governance()
    token = Web3.to_checksum_address("0x" + "12" * 20)
    change = gov.list_asset(token, 3_000 * 10**6, 1_500)
    assert change.target == gov.vault.address and change.value == 0
    assert gov.describe(change.target, change.data) == f"listAsset(token={token}, price=3000000000, haircutBps=1500)"
    with pytest.raises(GovernanceError, match="first mark"):
        gov.list_asset(token, 0, 0)  # the vault refuses a listing without a price (ListingUnpriced)
    with pytest.raises(GovernanceError, match="haircut 10001"):
        gov.list_asset(token, 1, 10_001)
    b, a = Web3.to_checksum_address("0x" + "0b" * 20), Web3.to_checksum_address("0x" + "0a" * 20)
    rotation = gov.set_signers([b, a], 2)
    fn, params = gov.vault.contract.decode_function_input(rotation.data)
    assert fn.fn_name == "setSigners" and params["signers_"] == [a, b] and params["threshold_"] == 2  # sorted
    delay = gov.set_timelock_delay(3600)
    assert (
        delay.target == gov.timelock.address and gov.describe(delay.target, delay.data) == "updateDelay(newDelay=3600)"
    )
    with pytest.raises(GovernanceError, match="threshold 3"):
        gov.set_signers([a, b], 3)


def test_any_governed_call_from_a_signature_and_text_arguments() -> None:
    gov = governance()
    target = "0x" + "34" * 20
    sig = "setVenueKey(bytes32,address,uint64,bool,uint256[])"
    change = gov.call(target, sig, ["0x" + "01" * 32, "0x" + "56" * 20, "1700000000", "true", "[1, 2]"])
    assert change.data[:4] == function_signature_to_4byte_selector(sig)
    values = decode(["bytes32", "address", "uint64", "bool", "uint256[]"], change.data[4:])
    assert values == (b"\x01" * 32, "0x" + "56" * 20, 1_700_000_000, True, (1, 2))
    with pytest.raises(GovernanceError, match="takes 1 arguments"):
        gov.call(target, "f(uint256)", [])
    with pytest.raises(GovernanceError, match="not a valid uint256"):
        gov.call(target, "f(uint256)", ["ten"])
    with pytest.raises(GovernanceError, match="not a function signature"):
        gov.call(target, "f", [])
