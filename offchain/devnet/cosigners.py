"""Co-signer processes for a devnet: one `crossclear cosign` per registered risk-signer key, each with its own
settings file, its own copy of the published history and its own log (`crossclear devnet`, the demo, the
co-signer tests and scripts/bench_pipeline.py). Plain keys: devnet only.

They are OS processes started through the CLI, so the devnet's engine process never loads a risk key: it
gets their URLs (`DevnetSpec.cosigners`) and gathers their signatures (offchain/cosign/client.py). The
published history each starts from is written by `crossclear publish`, as an outside co-signer would fetch
the operator's published file."""

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
from offchain.devnet.spec import DevnetSpec
from offchain.errors import CrossclearError

ROOT = Path(__file__).resolve().parents[2]


class CosignerStartError(CrossclearError, RuntimeError):
    """A co-signer process exited or did not answer before the deadline (its log is in the message)."""


@dataclass(frozen=True)
class CosignerProcess:
    process: subprocess.Popen[str]
    url: str
    log: Path


def cli() -> list[str]:
    return [sys.executable, "-m", "offchain.cli.main"]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def publish_history(db_url: str, out: Path) -> Path:
    """The published fills file of the ledger's confirmed batches, by `crossclear publish`."""
    done = subprocess.run(
        [*cli(), "publish", "--db", db_url, "--out", str(out)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    if done.returncode != 0:
        raise CosignerStartError(f"crossclear publish failed: {(done.stderr or done.stdout)[-2000:]}")
    return out


def start_cosigner(
    rpc_url: str,
    vault: str,
    registry: str | None,
    key: str,
    history: Path,
    folder: Path,
    k: int,
    published: Sequence[str] = (),
) -> CosignerProcess:
    """`published`: the co-signer's sources of the published lines of batches it missed (settings
    `published`: files or URLs), read to catch up by itself."""
    port = free_port()
    config = folder / f"cosign-{k}.json"
    body: dict[str, object] = {
        "rpc_url": rpc_url,
        "vault": vault,
        "key": {"plain_key": key},
        "port": port,
        "history": str(history),
        "published": list(published),
    }
    if registry is not None:
        body["registry"] = registry
    config.write_text(json.dumps(body))
    log = folder / f"cosign-{k}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*cli(), "cosign", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(),
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
            stop(c)


def stop(c: CosignerProcess) -> None:
    c.process.terminate()
    try:
        c.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        c.process.kill()
        c.process.wait(timeout=30)


@contextmanager
def devnet_cosigners(spec: DevnetSpec, db_url: str, folder: Path) -> Iterator[DevnetSpec]:
    """The devnet's three co-signers, one per risk-signer key, started on the history settled so far (the
    bring-up's batches); yields the spec with their URLs, so that its engine (`engine_settings`) holds no
    risk key and gathers their signatures instead."""
    folder.mkdir(parents=True, exist_ok=True)
    history = publish_history(db_url, folder / "cosign-history.jsonl")
    with running_cosigners(spec.rpc_url, spec.vault, spec.registry or None, spec.signer_keys, history, folder) as procs:
        yield spec.model_copy(update={"cosigners": [c.url for c in procs]})
