"""Shared fixtures: a real Anvil chain (one per test session) and freshly deployed vaults on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from web3 import Web3

from offchain.chain.anvil import ANVIL_KEYS, Anvil
from offchain.chain.deploy import Deployment, VaultParams, deploy_devnet
from offchain.chain.signers import RiskSigner
from offchain.chain.transactions import TxSender
from offchain.chain.vault import vault_sender

DEPLOYER_KEY = ANVIL_KEYS[0]
SIGNER_KEYS = ANVIL_KEYS[1:4]  # a 2-of-3 risk-signer set
MEMBER_KEYS = ANVIL_KEYS[4:9]

# Hypothesis's timing checks (a per-example deadline, "input generation is slow") measure the machine, not the
# code: on a shared 2-core machine one stalled draw fails a correct test. Speed is the benchmarks' business
# (scripts/bench_*.py); tests assert behaviour only.
settings.register_profile("crossclear", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("crossclear")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Forge's suite, Slither and Halmos, when collected, start now on the second core (contracts/background.py)."""
    from tests.contracts import background

    background.start([item.nodeid for item in session.items])


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    with Anvil() as chain:
        yield chain


@pytest.fixture(scope="session")
def w3(anvil: Anvil) -> Web3:
    return anvil.web3()


@pytest.fixture(scope="session")
def risk_signers(w3: Web3) -> list[RiskSigner]:
    return [RiskSigner.from_devnet_key(k, w3.eth.chain_id) for k in SIGNER_KEYS]


@pytest.fixture
def deployment(w3: Web3, risk_signers: list[RiskSigner]) -> Deployment:
    """A fresh vault (2-of-3 signers, 1 h withdrawal delay, 7 d escape period) with devnet tokens."""
    deployer = deployer_sender(w3)
    params = VaultParams(signers=[s.address for s in risk_signers], threshold=2)
    return deploy_devnet(w3, deployer, params)


def deployer_sender(w3: Web3) -> TxSender:
    return vault_sender(w3, DEPLOYER_KEY)


# ---------------------------------------------------------------- ledger backends


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 16 server for this test session (the pgserver wheel), or CROSSCLEAR_TEST_PG_URL."""
    import os

    given = os.environ.get("CROSSCLEAR_TEST_PG_URL")
    if given:
        yield given
        return
    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each ledger test runs on SQLite (a fresh file) and on PostgreSQL (a fresh database)."""
    import uuid

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    from sqlalchemy import create_engine, make_url, text

    from offchain.ledger.db import normalise_url

    base = normalise_url(request.getfixturevalue("postgres_url"))
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def forge_out() -> Path:
    """contracts/out, built by forge if needed (tests that deploy test-only contracts read it)."""
    import subprocess

    from offchain.chain.artifacts import CONTRACTS_DIR

    forge = CONTRACTS_DIR / "node_modules" / ".bin" / "forge"
    result = subprocess.run([str(forge), "build"], cwd=CONTRACTS_DIR, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return CONTRACTS_DIR / "out"
