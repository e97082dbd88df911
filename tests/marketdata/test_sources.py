"""Price adapters and the feeder: replayed venue series, a signing venue endpoint over real HTTP,
Chainlink rounds; a failing source loses only its own observations, with one alert."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select

from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.ledger.price_feed_store import LedgerPriceSink
from offchain.marketdata.feeder import Feeder
from offchain.marketdata.observations import MarketInputError, Observation
from offchain.marketdata.replay import parse_instant, replay_sources
from offchain.marketdata.sources import HttpJsonSource, Round, from_round, load_series, to_units

VENUE_KEY = "0x" + "11" * 32
VENUE = Account.from_key(VENUE_KEY).address
NOW = parse_instant("2026-12-01T12")


def test_replayed_sources_show_the_history_as_a_live_ticker() -> None:
    sources = replay_sources(parse_instant("2022-11-09T00"), NOW)
    by_source = {s.name: {o.symbol: o.price for o in s.poll(NOW)} for s in sources}
    assert set(by_source) == {"binance-spot", "binance-perp", "binance-mark"}
    spot = by_source["binance-spot"]
    assert set(spot) == {"BTC", "BTC-USD-PERP", "ETH", "ETH-USD-PERP"}
    # The close of the 2022-11-08T23 candle (it closes at 09T00), in USDC base units.
    assert 17_000 * 10**6 < spot["BTC"] < 19_000 * 10**6
    for other in ("binance-perp", "binance-mark"):  # three series of the same market agree within 1 %
        assert abs(by_source[other]["BTC"] - spot["BTC"]) < spot["BTC"] // 100
    assert all(o.ts_ms == NOW for s in sources for o in s.poll(NOW))
    # Past the end of the spot and mark cuts (the FTX window ends 2022-12-08) only the perp still prints.
    late = replay_sources(parse_instant("2022-12-20"), NOW)
    assert [s.name for s in late if s.poll(NOW)] == ["binance-perp"]


def test_replayed_files_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,symbol,open,high,low,close\n2022-11-01T00:00:00Z,BTC,100,99,90,95\n")
    with pytest.raises(MarketInputError, match="ohlc_inconsistent"):
        load_series(bad, ["BTC"])
    bad.write_text("timestamp,symbol,open,high,low,close\n2022-11-01T00:00:00Z,BTC,100,110,-1,95\n")
    with pytest.raises(MarketInputError, match="non_positive_price"):
        load_series(bad, ["BTC"])
    bad.write_text(
        "timestamp,symbol,open,high,low,close\n2022-11-01T01:00:00Z,BTC,1,1,1,1\n2022-11-01T00:00:00Z,BTC,1,1,1,1\n"
    )
    with pytest.raises(MarketInputError, match="timestamps_not_increasing"):
        load_series(bad, ["BTC"])
    with pytest.raises(MarketInputError, match="bad_price"):
        to_units("1e", 6)


def signed(symbol: str, price: str, ts: int, key: str = VENUE_KEY) -> dict[str, Any]:
    obs = Observation(symbol, "venue-x", to_units(price, 6), ts)
    sig = Account.sign_message(encode_defunct(text=obs.digest_text()), key).signature
    return {"symbol": symbol, "price": price, "ts_ms": ts, "signature": "0x" + bytes(sig).hex()}


@pytest.fixture
def endpoint() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A real HTTP price endpoint serving `answers[symbol]` as JSON at /price/<symbol>."""
    answers: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answers.get(self.path.rsplit("/", 1)[-1], {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers
    server.shutdown()


def http_fetch(base: str) -> Any:
    def fetch(symbol: str) -> Mapping[str, Any]:
        with urlopen(f"{base}/price/{symbol}", timeout=5) as r:
            return dict(json.loads(r.read()))

    return fetch


def test_a_signing_venue_endpoint_is_verified(endpoint: tuple[str, dict[str, dict[str, Any]]]) -> None:
    base, answers = endpoint
    src = HttpJsonSource("venue-x", ["ETH"], http_fetch(base), signer=VENUE)
    answers["ETH"] = signed("ETH", "1523.25", NOW)
    (obs,) = src.poll(NOW)
    assert (obs.price, obs.ts_ms, obs.signer) == (1_523_250_000, NOW, VENUE)
    answers["ETH"] = {**signed("ETH", "1523.25", NOW), "price": "15.2325"}  # tampered in transit
    with pytest.raises(MarketInputError, match="bad_signature"):
        src.poll(NOW)
    answers["ETH"] = signed("ETH", "1523.25", NOW, key="0x" + "22" * 32)
    with pytest.raises(MarketInputError, match="bad_signature"):
        src.poll(NOW)
    answers["ETH"] = {"symbol": "ETH", "price": "1523.25", "ts_ms": NOW}
    with pytest.raises(MarketInputError, match="unsigned"):
        src.poll(NOW)
    answers["ETH"] = {"symbol": "ETH", "price": "0", "ts_ms": NOW}
    with pytest.raises(MarketInputError, match="non_positive_price"):
        HttpJsonSource("venue-y", ["ETH"], http_fetch(base)).poll(NOW)


def test_chainlink_rounds() -> None:
    obs = from_round("ETH", "chainlink:ETH/USD", Round(7, 152_325_000_000, 1, 1_764_590_400, 7), 8)
    assert (obs.price, obs.ts_ms) == (1_523_250_000, 1_764_590_400_000)
    with pytest.raises(MarketInputError, match="non_positive_price"):
        from_round("ETH", "cl", Round(7, 0, 1, 1, 7), 8)
    with pytest.raises(MarketInputError, match="incomplete_round"):
        from_round("ETH", "cl", Round(8, 5, 1, 1, 7), 8)


def test_a_failing_source_loses_only_its_own_observations(
    tmp_path: Path, endpoint: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    base, answers = endpoint
    db = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    answers["ETH"] = {"symbol": "ETH", "price": "-1", "ts_ms": NOW}
    feeder = Feeder(
        LedgerPriceSink(db),
        [*replay_sources(parse_instant("2022-11-09"), NOW), HttpJsonSource("venue-x", ["ETH"], http_fetch(base))],
    )
    assert len(feeder.step(NOW)) == 12
    assert len(feeder.step(NOW + 1000)) == 12
    with db.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.subject, t.alerts.c.detail)).all()
        n = conn.execute(select(t.marks.c.id)).all()
    assert [(k, s) for k, s, _ in alerts] == [("price_source_failed", "venue-x")]  # once per outage
    assert "non_positive_price" in alerts[0][2]
    assert len(n) == 24
