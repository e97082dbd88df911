"""Real API servers (uvicorn in a thread, on the wall clock like a client): over a populated ledger
(`server`), and over a devnet (`devnet_server`: Anvil, the deployed vault and registry, the settlement
engine, the API wired as `crossclear serve --devnet` wires it, relaying withdrawals on-chain)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import insert

from offchain.api import create_app
from offchain.api.deps import wall_ms
from offchain.cli.main import build_parser
from offchain.cli.serve_command import build_app, settings_from_args
from offchain.devnet.runtime import settlement_engine
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.engine import SettlementEngine
from tests.api.conftest import BTC_MARK, populate, settings
from tests.settlement.conftest import Devnet, make_devnet


def _serve(app: Any) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@dataclass
class LiveDevnet:
    """A devnet behind a live API: `settle()` runs the real engine until it has put a batch on-chain."""

    base_url: str
    devnet: Devnet
    engine: SettlementEngine

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def settle(self) -> int:
        for _ in range(5):
            result = self.engine.step()
            if result.action == "settled" and result.sequence is not None:
                return result.sequence
        raise AssertionError(f"the engine settled no batch (last: {result})")

    def fills_root_on_chain(self, sequence: int) -> str:
        """The batch's fillsRoot as the vault's BatchSettled event and calldata hold it (not the API's copy)."""
        (settled,) = [b for b in self.devnet.vault.settled_batches() if b.batch.sequence == sequence]
        return "0x" + bytes(settled.batch.fills_root).hex()

    def withdrawal_nonce(self, member: str) -> int:
        return int(self.devnet.vault.contract.functions.withdrawalNonce(member).call())

    def chain_now(self) -> int:
        return self.devnet.now_ms() // 1000


@pytest.fixture(scope="module")
def devnet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDevnet]:
    url = f"sqlite:///{tmp_path_factory.mktemp('client-devnet') / 'ledger.db'}"
    for d in make_devnet(url, default_fund_usdc=1_500_000):
        for name, usdc in (("Alpha Market Making", 500_000), ("Macro Fund", 300_000)):
            d.deposit(name, usdc)
        d.prices(btc=60_000)
        path = tmp_path_factory.mktemp("client-spec") / "devnet.json"
        d.spec.save(path)
        args = build_parser().parse_args(["serve", "--devnet", str(path), "--db", url])
        app = build_app(settings_from_args(args), args.devnet)  # as `crossclear serve` builds it
        engine = settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0))
        for base in _serve(app):
            yield LiveDevnet(base, d, engine)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    url = f"sqlite:///{tmp_path / 'client.db'}"
    engine = open_ledger(url)
    populate(engine)
    with engine.begin() as conn:  # a mark as of now: this server runs on the wall clock, like the client
        conn.execute(insert(t.marks).values(instrument="BTC-USD-PERP", price=BTC_MARK, ts_ms=wall_ms(), source="t"))
    app = create_app(settings(url), engine=engine)
    try:
        for base in _serve(app):
            yield base, engine
    finally:
        engine.dispose()
