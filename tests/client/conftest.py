"""A real API server (uvicorn in a thread, on the wall clock like a client) over a populated ledger."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import insert

from offchain.api import create_app
from offchain.api.deps import wall_ms
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from tests.api.conftest import BTC_MARK, populate, settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    url = f"sqlite:///{tmp_path / 'client.db'}"
    engine = open_ledger(url)
    populate(engine)
    with engine.begin() as conn:  # a mark as of now: this server runs on the wall clock, like the client
        conn.execute(insert(t.marks).values(instrument="BTC-USD-PERP", price=BTC_MARK, ts_ms=wall_ms(), source="t"))
    app = create_app(settings(url), engine=engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", engine
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
