"""Co-signer processes for a devnet: one `crossclear cosign` per registered risk-signer key, each with its own
settings file (used by the devnet test and scripts/bench_pipeline.py). Plain keys: devnet only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from offchain.chain.anvil import free_port
from offchain.errors import CrossclearError

ROOT = Path(__file__).resolve().parents[2]


class CosignerStartError(CrossclearError, RuntimeError):
    """A co-signer process exited or did not answer before the deadline (its log is in the message)."""


@dataclass(frozen=True)
class CosignerProcess:
    process: subprocess.Popen[str]
    url: str
    log: Path


def start_cosigner(
    rpc_url: str, vault: str, registry: str | None, key: str, history: Path, folder: Path, k: int
) -> CosignerProcess:
    port = free_port()
    config = folder / f"cosign-{k}.json"
    body = {"rpc_url": rpc_url, "vault": vault, "key": {"plain_key": key}, "port": port, "history": str(history)}
    if registry is not None:
        body["registry"] = registry
    config.write_text(json.dumps(body))
    log = folder / f"cosign-{k}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "offchain.cli.main", "cosign", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    return CosignerProcess(proc, f"http://127.0.0.1:{port}", log)


def wait_up(cosigners: Sequence[CosignerProcess], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    for c in cosigners:
        while True:
            if c.process.poll() is not None:
                raise CosignerStartError(f"co-signer exited: {c.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{c.url}/v1/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise CosignerStartError(f"co-signer at {c.url} did not come up: {c.log.read_text()[-2000:]}")
            time.sleep(0.2)


@contextmanager
def running_cosigners(
    rpc_url: str, vault: str, registry: str | None, keys: Sequence[str], history: Path, folder: Path
) -> Iterator[list[CosignerProcess]]:
    """Start one co-signer per key, wait until each answers, stop them all on exit."""
    started = [start_cosigner(rpc_url, vault, registry, key, history, folder, k) for k, key in enumerate(keys)]
    try:
        wait_up(started)
        yield started
    finally:
        for c in started:
            c.process.terminate()
        for c in started:
            try:
                c.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                c.process.kill()
