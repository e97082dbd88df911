"""The TypeScript client (clients/ts, ethers v6) under node's test runner: against a live API over a
populated ledger (fills single and bulk, sessions, refusals, proofs of settled fills against the batch's
fillsRoot across pages, its routes against the OpenAPI schema), and against a devnet with the settlement
engine running (its README example: the stream, a fill settled on-chain and proven against the root read
from the vault, a withdrawal relayed; a replayed withdrawal refused by the vault)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from offchain.api.deps import wall_ms
from offchain.core.fills import Fill
from tests.api.conftest import ALICE, BOB, BTC_MARK, VENUE, fill_json, settle_pending
from tests.client.conftest import LiveDevnet

TS = Path(__file__).resolve().parents[2] / "clients" / "ts"


def _npm(*args: str) -> None:
    subprocess.run(["npm", *args], cwd=TS, check=True, capture_output=True, timeout=300)


def _built() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is required (Node 20, see docs/toolchain.md)")
    if not all((TS / "node_modules" / p).is_dir() for p in ("ethers", "ws", "@types/ws")):
        _npm("install", "--no-audit", "--no-fund")  # from the npm registry, as package-lock.json pins
    build = subprocess.run(["npx", "tsc", "-p", "."], cwd=TS, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr


def _node_test(file: str, env: dict[str, str], passed: int) -> None:
    # --test-force-exit: a socket left open by a failed assertion must not hide the failure behind a hang.
    run = subprocess.run(
        ["node", "--test", "--test-force-exit", "--test-timeout=240000", f"dist/test/{file}"],
        cwd=TS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and f"# pass {passed}" in run.stdout, run.stdout


def test_the_typescript_client_against_a_devnet(devnet_server: LiveDevnet) -> None:
    _built()
    d = devnet_server.devnet
    alice, bob = d.member("Alpha Market Making"), d.member("Macro Fund")
    venue = next(v for v in d.spec.venues if v.name == "dex-perp")
    env = {
        **os.environ,
        "CROSSCLEAR_API_URL": devnet_server.base_url,
        "CROSSCLEAR_WS_URL": devnet_server.ws_url,
        "CROSSCLEAR_RPC_URL": d.spec.rpc_url,
        "CROSSCLEAR_VENUE": venue.name,
        "CROSSCLEAR_VENUE_KEY": venue.key,
        "CROSSCLEAR_ALICE_KEY": alice.key,
        "CROSSCLEAR_ALICE_ACCOUNT": str(alice.account),
        "CROSSCLEAR_BOB": bob.address,
    }
    stop = threading.Event()
    engine = threading.Thread(target=devnet_server.engine.run, args=(0.2, stop.is_set), daemon=True)
    engine.start()  # the engine settles whatever the client sends, as in production
    try:
        _node_test("devnet.test.js", env, passed=2)
    finally:
        stop.set()
        engine.join(timeout=30)


def test_the_typescript_client(server: tuple[str, Any]) -> None:
    _built()
    base, engine = server
    import httpx

    settled = [
        Fill(
            venue="dexA",
            venue_fill_id=f"settled-{n}",
            symbol="BTC-PERP",
            buyer=ALICE.address,
            seller=BOB.address,
            qty=1_000 + n,
            price=BTC_MARK,
            ts=wall_ms() - 1_000,
        )
        for n in range(5)
    ]
    acks = httpx.post(base + "/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(f) for f in settled]}).json()
    assert [a["status"] for a in acks] == ["accepted"] * 5
    settle_pending(engine, 1)
    env = {
        **os.environ,
        "CROSSCLEAR_API_URL": base,
        "CROSSCLEAR_VENUE_KEY": "0x" + bytes(VENUE.key).hex(),
        "CROSSCLEAR_ALICE_KEY": "0x" + bytes(ALICE.key).hex(),
        "CROSSCLEAR_BOB": BOB.address,
        "CROSSCLEAR_NOW_MS": str(wall_ms()),
        "CROSSCLEAR_SETTLED": json.dumps(
            [{**f.model_dump(), "qty": str(f.qty), "price": str(f.price)} for f in settled]
        ),
    }
    _node_test("client.test.js", env, passed=4)
