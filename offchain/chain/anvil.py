"""A real local Anvil chain, started as a child process on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from eth_account import Account
from web3 import HTTPProvider, Web3

from offchain.chain.artifacts import CONTRACTS_DIR
from offchain.chain.errors import ChainError

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def _anvil_keys(count: int = 10) -> tuple[str, ...]:
    """Anvil's well-known development keys, derived from its mnemonic (devnet only)."""
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        "0x" + bytes(Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
        for i in range(count)
    )


ANVIL_KEYS = _anvil_keys()


class AnvilError(ChainError):
    """Anvil could not be found or did not come up."""


def anvil_binary() -> str:
    local = CONTRACTS_DIR / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise AnvilError("anvil not found: run ./scripts/setup.sh (it installs Foundry from npm into contracts/)")
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
        chain_id: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.block_time = block_time
        self.gas_limit = gas_limit
        self.chain_id = chain_id  # None: Anvil's 31337 (the devnet id); another id makes it look like any chain
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
        if self.chain_id is not None:
            cmd += ["--chain-id", str(self.chain_id)]
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
