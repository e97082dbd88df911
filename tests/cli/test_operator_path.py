"""docs/operators.md, followed as a new operator would, with nothing but the `crossclear` command: an Anvil of
their own that stands for a remote chain (chain id 424242, so no devnet shortcut applies), keystores, `crossclear
deploy`, `crossclear gov` (list an asset, rotate a signer through the timelock), then from settings files the
price feeder (`crossclear feed --config`: three venues' HTTP price endpoints), the engine and a hot standby on
PostgreSQL, and the API (`crossclear serve --config`); the leader is killed and the standby takes over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hexbytes import HexBytes
from sqlalchemy import select

from offchain.chain.anvil import ANVIL_KEYS, Anvil
from offchain.chain.deploy import deploy_contract
from offchain.chain.vault import VaultClient, vault_sender
from offchain.ledger import schema as t
from offchain.ledger.leader import open_ledger_serialised
from tests.pgdb import fresh_database

pytestmark = pytest.mark.anvil
CLI = [sys.executable, "-m", "offchain.cli.main"]
CHAIN_ID = 424242
PASSWORD = "correct horse battery staple"


def crossclear(*args: str, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=180)
    if ok:
        assert done.returncode == 0, f"crossclear {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def keystore(path: Path, env: dict[str, str], key: str | None = None) -> str:
    if key is None:
        out = crossclear("keys", "new", "--out", str(path), env=env)
    else:
        out = crossclear(
            "keys", "import", "--out", str(path), "--key-env", "IMPORTED_KEY", env={**env, "IMPORTED_KEY": key}
        )
    address, written = out.stdout.split()
    assert Path(written) == path and path.is_file()
    return address


class PriceEndpoints(BaseHTTPRequestHandler):
    """Three venues' price endpoints, `/<venue>/<symbol>` -> `{"symbol", "price", "ts_ms"}` (ETH at 1,600)."""

    def do_GET(self) -> None:
        _, _venue, symbol = self.path.split("/")
        body = json.dumps({"symbol": symbol, "price": "1600", "ts_ms": int(time.time() * 1000)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(600)
def test_operator_deploys_governs_and_runs_engine_with_standby(tmp_path: Path, postgres_url: str) -> None:
    ledger_url = fresh_database(postgres_url)  # a hot standby needs PostgreSQL: SQLite is one node
    env = {**os.environ, "CROSSCLEAR_KEYSTORE_PASSWORD": PASSWORD}
    with Anvil(chain_id=CHAIN_ID) as anvil:
        w3 = anvil.web3()
        # The chain's world before the operator arrives: tokens that exist there (USDC, WETH), and funded
        # accounts the operator holds (Anvil's keys 0 and 1 stand for accounts funded on the real chain).
        world = vault_sender(w3, ANVIL_KEYS[9])
        usdc = deploy_contract(world, "DevToken", "USD Coin", "USDC", 6)
        weth = deploy_contract(world, "DevToken", "Wrapped Ether", "WETH", 18)

        keys = tmp_path / "keys"
        deployer = keystore(keys / "deployer.json", env, ANVIL_KEYS[0])
        submitter = keystore(keys / "submitter.json", env, ANVIL_KEYS[1])
        s1, s2, s3, s4 = (keystore(keys / f"signer{i}.json", env) for i in range(1, 5))

        deploy_toml = tmp_path / "deploy.toml"
        deploy_toml.write_text(
            f'rpc_url = "{anvil.url}"\nchain_id = {CHAIN_ID}\nsettlement_token = "{usdc}"\n'
            f'guardian = "{deployer}"\noperator = "{deployer}"\nsigners = ["{s1}", "{s2}", "{s3}"]\nthreshold = 2\n'
            f'withdrawal_delay_s = 3600\n[deployer]\nkeystore = "{keys / "deployer.json"}"\n'
            f'[timelock]\nmin_delay_s = 60\nproposers = ["{deployer}"]\nexecutors = ["{deployer}"]\n'
        )
        # A plain key is refused on a chain that is not the devnet, with a message and nothing deployed.
        plain = tmp_path / "plain.toml"
        plain.write_text(
            deploy_toml.read_text().replace(f'keystore = "{keys / "deployer.json"}"', f'plain_key = "{ANVIL_KEYS[0]}"')
        )
        refused = crossclear("deploy", "--config", str(plain), "--out", str(tmp_path / "x.json"), env=env, ok=False)
        assert refused.returncode == 2 and "devnet only" in refused.stderr
        assert not (tmp_path / "x.json").exists()

        description = tmp_path / "deployment.json"
        crossclear("deploy", "--config", str(deploy_toml), "--out", str(description), env=env)
        deployment = json.loads(description.read_text())
        text = description.read_text().lower()
        for key in ANVIL_KEYS[:2]:
            assert key.lower()[2:] not in text  # no key material in the description
        assert deployment["chain_id"] == CHAIN_ID and deployment["timelock"] is not None
        vault = VaultClient(w3, deployment["vault"])
        governor_role = vault.contract.functions.GOVERNOR_ROLE().call()
        assert vault.contract.functions.hasRole(governor_role, deployment["timelock"]).call()
        assert not vault.contract.functions.hasRole(governor_role, deployer).call()
        # the loosening rules bind from the constructor, though the timelock governs (defaults: 1 day, 25 %)
        assert vault.contract.functions.loosening().call() == [86_400, 2_500]
        assert (deployment["loosening_delay_s"], deployment["mark_band_bps"]) == (86_400, 2_500)

        gov_toml = tmp_path / "gov.toml"
        gov_toml.write_text(
            f'rpc_url = "{anvil.url}"\ndeployment = "{description}"\n'
            f'[proposer]\nkeystore = "{keys / "deployer.json"}"\n'
        )
        gov = ("gov", "--config", str(gov_toml))
        # Each step that must fall inside the timelock's delay comes right after the schedule it tests, one
        # command each: on a loaded machine one command can take several seconds of the delay.
        # Listed at the feeder's 1,600 (the band anchors on it), haircut 0: the engine's first batch raises it.
        listing = crossclear(*gov, "schedule", "list-asset", "--token", weth, "--price", str(1_600 * 10**6),
                             "--haircut-bps", "0", env=env)  # fmt: skip
        listing_id = listing.stdout.split()[1].rstrip(":")
        early = crossclear(*gov, "execute", listing_id, env=env, ok=False)
        assert early.returncode == 2 and "waiting" in early.stderr  # the timelock's delay holds
        rotation = crossclear(*gov, "schedule", "set-signers", "--signer", s1, "--signer", s2, "--signer", s4,
                              "--threshold", "2", env=env)  # fmt: skip
        rotation_id = rotation.stdout.split()[1].rstrip(":")
        listed = crossclear(*gov, "list", env=env).stdout
        assert f"{rotation_id}  ready in" in listed and "listAsset" in listed and "setSigners" in listed
        wait_for(lambda: "ready in" not in crossclear(*gov, "list", env=env).stdout, 150, "the timelock's delay")
        executed = crossclear(*gov, "execute", listing_id, env=env)
        assert "listed as asset 1" in executed.stdout
        crossclear(*gov, "execute", rotation_id, env=env)
        assert f"{rotation_id}  done" in crossclear(*gov, "list", env=env).stdout
        assert vault.contract.functions.assetToken(1).call() == weth

        # The engine: one settings file for leader and standby, signing with the rotated set (s1 and s4:
        # s4 signs only because the rotation went through).
        engine_toml = tmp_path / "engine.toml"
        engine_toml.write_text(
            f'db_url = "{ledger_url}"\nrpc_url = "{anvil.url}"\ndeployment = "{description}"\n'
            'risk_asof = "2022-11-01"\ninterval_s = 0.2\nheartbeat_s = 1\n'
            f'[submitter]\nkeystore = "{keys / "submitter.json"}"\n'
            f'[[signers]]\nkeystore = "{keys / "signer1.json"}"\n[[signers]]\nkeystore = "{keys / "signer4.json"}"\n'
            '[[collateral]]\nasset = 0\nsymbol = "USDC"\ndecimals = 6\n'
            '[[collateral]]\nasset = 1\nsymbol = "WETH"\ndecimals = 18\nfactor = "ETH"\n'
        )
        # The price feeder, from its settings file: three venues' endpoints for ETH (the index is their median).
        prices = HTTPServer(("127.0.0.1", 0), PriceEndpoints)
        threading.Thread(target=prices.serve_forever, daemon=True).start()
        feed_toml = tmp_path / "feed.toml"
        feed_toml.write_text(
            f'db_url = "{ledger_url}"\ninterval_s = 0.5\n'
            + "".join(
                f'[[http]]\nname = "{v}"\nurl = "http://127.0.0.1:{prices.server_address[1]}/{v}/{{symbol}}"\n'
                'symbols = ["ETH"]\n'
                for v in ("venue-a", "venue-b", "venue-c")
            )
        )
        # The API, from its node settings: the deployment, a relayer key of its own, the engine's settings
        # (for the position limits it checks fills against).
        relayer = keystore(keys / "relayer.json", env)
        assert relayer not in {deployer, submitter}  # never the engine's sender (nonce races)
        api_toml = tmp_path / "api.toml"
        api_toml.write_text(
            f'db_url = "{ledger_url}"\nrpc_url = "{anvil.url}"\ndeployment = "{description}"\n'
            f'engine = "{engine_toml}"\n[relayer]\nkeystore = "{keys / "relayer.json"}"\n'
        )
        api_port = free_port()
        # Leader and standby start together on a fresh database (they take turns migrating it).
        nodes = [
            subprocess.Popen([*CLI, "engine", "--config", str(engine_toml)], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        db = open_ledger_serialised(ledger_url)
        services = [
            subprocess.Popen([*CLI, "feed", "--config", str(feed_toml)], env=env, stdout=subprocess.DEVNULL),
            subprocess.Popen([*CLI, "serve", "--config", str(api_toml), "--port", str(api_port)], env=env),
        ]
        try:
            wait_for(lambda: vault.last_sequence() >= 2, 120, "the leader's first batches")

            def leader() -> int:
                with db.connect() as conn:
                    node = conn.execute(select(t.engine_status.c.node)).scalar_one()
                return int(node.rsplit(":", 1)[1])

            first = leader()
            assert first in {p.pid for p in nodes}
            settled = vault.settled_batches()
            assert {s.signer for s in settled[-1].signatures} == {s1, s4}
            assert (
                w3.eth.get_transaction(HexBytes(settled[-1].tx_hash))["from"] == submitter
            )  # gas from the submitter key
            # WETH marked on-chain from the feeder's three sources.
            wait_for(lambda: vault.contract.functions.markOf(1).call()[0] == 1_600 * 10**6, 60, "WETH's mark")
            with db.connect() as conn:
                sources = set(conn.execute(select(t.marks.c.source).where(t.marks.c.instrument == "ETH")).scalars())
            assert sources == {"venue-a", "venue-b", "venue-c"}
            # The API serves this deployment: its signing domain is the vault's on this chain.
            base = f"http://127.0.0.1:{api_port}"
            wait_for(lambda: _answers(base + "/v1/health"), 60, "the API")
            signing = httpx.get(base + "/v1/signing").json()
            assert signing["domain"]["chainId"] == CHAIN_ID
            assert signing["domain"]["verifyingContract"].lower() == deployment["vault"].lower()
            killed = next(p for p in nodes if p.pid == first)
            killed.send_signal(signal.SIGKILL)
            killed.wait()
            before = vault.last_sequence()
            wait_for(lambda: vault.last_sequence() >= before + 2, 60, "the standby to take over")
            survivor = next(p for p in nodes if p is not killed)
            assert survivor.poll() is None and leader() == survivor.pid
        finally:
            everything: list[subprocess.Popen[Any]] = [*nodes, *services]
            for p in everything:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=30)
            prices.shutdown()
            db.dispose()
        assert survivor.returncode == 0, survivor.stderr.read() if survivor.stderr else ""
