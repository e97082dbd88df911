"""The README's path beyond the demo: `crossclear devnet` writes a devnet file and starts three co-signers,
`crossclear engine` settles against it (holding no risk key: the co-signers sign), `crossclear publish` +
`crossclear audit` verify it — all as separate processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from offchain.chain.anvil import free_port

pytestmark = pytest.mark.anvil
CLI = [sys.executable, "-m", "offchain.cli.main"]


@pytest.mark.timeout(300)
def test_devnet_engine_publish_audit(tmp_path: Path) -> None:
    devnet_file, db = tmp_path / "devnet.json", f"sqlite:///{tmp_path / 'ledger.db'}"
    devnet = subprocess.Popen(
        [*CLI, "devnet", "--port", str(free_port()), "--db", db, "--out", str(devnet_file), "--deposit", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not devnet_file.exists():
            assert devnet.poll() is None, devnet.stdout.read() if devnet.stdout else ""
            assert time.monotonic() < deadline, "devnet did not come up"
            time.sleep(0.2)
        spec = json.loads(devnet_file.read_text())
        assert len(spec["members"]) == 7
        assert len(spec["cosigners"]) == 3  # the engine opened on this file gathers their signatures
        engine = subprocess.run(
            [*CLI, "engine", "--devnet", str(devnet_file), "--db", db, "--interval", "0.1", "--max-steps", "2"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert engine.returncode == 0, engine.stderr
        signers = {httpx.get(f"{u}/v1/status", timeout=60).json()["signer"] for u in spec["cosigners"]}
        assert len(signers) == 3
        fills = tmp_path / "fills.jsonl"
        pub = subprocess.run([*CLI, "publish", "--db", db, "--out", str(fills)], capture_output=True, text=True)
        assert pub.returncode == 0, pub.stderr
        audit = subprocess.run(
            [*CLI, "audit", "--rpc", spec["rpc_url"], "--vault", spec["vault"], "--fills", str(fills)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "audit passed" in audit.stdout
        settled = re.search(r"batches (\d+)", audit.stdout)
        assert settled is not None and int(settled.group(1)) >= 2  # the bring-up's and the engine's co-signed one
    finally:
        devnet.terminate()
        devnet.wait(timeout=30)
    assert devnet.returncode == 0
