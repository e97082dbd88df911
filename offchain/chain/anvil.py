"""A real local Anvil chain, started as a child process on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from web3 import HTTPProvider, Web3

from offchain.chain.artifacts import CONTRACTS_DIR

# Anvil's well-known development accounts (mnemonic "test test ... junk"); devnet only.
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d8b8b4b10e8c6bbd5d",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


class AnvilError(Exception):
    """Anvil could not be found or did not come up."""


def anvil_binary() -> str:
    local = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise AnvilError(
            "anvil not found: run ./scripts/setup.sh (it installs Foundry from npm into contracts/)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """`with Anvil() as chain:` starts a fresh chain and stops it afterwards."""

    def __init__(
        self,
        port: int | None = None,
        block_time: float | None = None,
        gas_limit: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 60}))

    def start(self) -> Anvil:
        cmd = [anvil_binary(), "--port", str(self.port), "--host", "127.0.0.1", "--silent"]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        deadline = time.monotonic() + 30
        w3 = self.web3()
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AnvilError(f"anvil exited with status {self._proc.returncode} (port {self.port})")
            try:
                if w3.is_connected():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer on {self.url} within 30 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
