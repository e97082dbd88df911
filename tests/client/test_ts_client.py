"""The TypeScript client (clients/ts, ethers v6) under node's test runner, against a live API: fills
single and bulk, sessions, refusals, proofs of settled fills against the batch's fillsRoot, its routes
against the OpenAPI schema, and its README example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offchain.api.deps import wall_ms
from offchain.core.fills import Fill
from tests.api.conftest import ALICE, BOB, BTC_MARK, VENUE, fill_json, settle_pending

TS = Path(__file__).resolve().parents[2] / "clients" / "ts"


def _npm(*args: str) -> None:
    subprocess.run(["npm", *args], cwd=TS, check=True, capture_output=True, timeout=300)


def test_the_typescript_client(server: tuple[str, Any]) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is required (Node 20, see docs/toolchain.md)")
    if not (TS / "node_modules" / "ethers").is_dir():
        _npm("install", "--no-audit", "--no-fund")  # from the npm registry, as package-lock.json pins
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
    build = subprocess.run(["npx", "tsc", "-p", "."], cwd=TS, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    run = subprocess.run(["node", "--test", "dist/test/"], cwd=TS, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout and "# pass 5" in run.stdout, run.stdout
