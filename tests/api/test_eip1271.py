"""A contract account (think: a DAO's Safe) signs API requests through EIP-1271, checked on a real Anvil."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from offchain.api import create_app
from offchain.api.chain import Web3Chain
from offchain.chain.vault import VaultClient
from offchain.ledger.db import open_ledger
from tests.api.conftest import ALICE, CAROL, Api, Clock, populate, settings
from tests.conftest import deployer_sender

APPLY = {"name": "Carol DAO", "kind": "dao", "tier": "tier3", "group": "treasury"}

pytestmark = pytest.mark.anvil


def test_contract_account_signs_with_eip1271(w3: Any, tmp_path: Path, forge_out: Path) -> None:
    art = json.loads((forge_out / "MockERC1271Wallet.sol" / "MockERC1271Wallet.json").read_text())
    sender = deployer_sender(w3)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]["object"])
    wallet = sender.send(factory.constructor(CAROL.address)).receipt["contractAddress"]
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = open_ledger(url)
    populate(engine)
    chain = Web3Chain(VaultClient(w3, "0x" + "ab" * 20), None)
    clock = Clock()
    with TestClient(create_app(settings(url), engine=engine, clock=clock, chain=chain)) as client:
        api = Api(client, engine, clock)
        r = api.signed(CAROL, "POST", "/v1/membership/applications", APPLY, signer=wallet)
        assert r.status_code == 201, r.text
        assert r.json()["address"] == wallet
        # A key the wallet does not accept.
        r = api.signed(ALICE, "POST", "/v1/auth/login", {"purpose": "login"}, signer=wallet)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
        r = api.signed(CAROL, "POST", "/v1/auth/login", {"purpose": "login"}, signer=wallet)
        assert r.status_code == 200 and r.json()["address"] == wallet
    engine.dispose()
