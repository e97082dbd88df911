"""Push on a real devnet (Anvil, the settlement engine with default management): the batch that raises a
margin call is the one after which the member's WebSocket and its webhook carry it, before any other batch."""

from __future__ import annotations

import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import orjson
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from offchain.api import ApiSettings, create_app
from offchain.api.push import sign_body
from offchain.api.signing import api_domain, sign_request
from tests.defaults.test_default_e2e import THIN, _devnet, open_book, world

pytestmark = pytest.mark.anvil


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append((body, self.headers["x-crossclear-signature"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _signed(client: TestClient, spec: Any, key: str, path: str, payload: Any, nonce: int) -> Any:
    body = sign_request(
        key, api_domain(spec.chain_id, spec.vault), "POST", path, payload, nonce, int(time.time()) + 600
    )
    return client.post(path, json=body)


def test_a_margin_call_reaches_the_socket_and_the_webhook_within_one_batch() -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        for d in _devnet(operator_capital_usdc=500_000):
            w = world(d)
            open_book(w, thin_usdc=8_000, thin_btc=2)
            thin = d.member(THIN)
            settings = ApiSettings(
                db_url=d.db_url,
                chain_id=d.spec.chain_id,
                vault=d.spec.vault,
                operator_address=Account.from_key(d.spec.operator_key).address,
                stream_poll_ms=50,
                webhook_interval_ms=50,
            )
            with TestClient(create_app(settings, engine=d.db)) as client:
                token = _signed(client, d.spec, thin.key, "/v1/auth/login", {"purpose": "login"}, 1).json()["token"]
                r = _signed(client, d.spec, thin.key, f"/v1/members/{thin.account}/webhooks", {"url": hook_url}, 2)
                assert r.status_code == 201, r.text
                secret = r.json()["secret"]
                with client.websocket_connect(f"/v1/stream?token={token}") as ws:
                    hello = ws.receive_json()
                    assert (hello["stream"], hello["subject"]) == ("member", thin.account)
                    messages: list[dict[str, Any]] = []
                    reader = threading.Thread(target=_read_until_call, args=(ws, messages), daemon=True)
                    reader.start()

                    w.warp(1)
                    w.settle(15_000)  # one batch: the price drop margin-calls Thin Capital
                    raised = w.d.vault.settled_batches()[-1].batch.sequence
                    reader.join(timeout=15)
                    calls = [m for m in messages if m["type"] == "margin_call"]
                    assert calls, messages
                    (call,) = calls
                    amount, deadline = w.f.marginCallOf(thin.account).call()
                    assert (call["verdict"], call["amount"], call["deadline"]) == ("issue", str(amount), deadline)
                    assert call["batch_sequence"] == raised and call["cured"] is False
                    assert w.d.vault.settled_batches()[-1].batch.sequence == raised  # no other batch since

                deadline_s = time.monotonic() + 15
                while time.monotonic() < deadline_s and not _webhook_calls():
                    time.sleep(0.05)
                (body, signature), *_ = [x for x in Receiver.received if b"margin_call" in x[0]]
                assert hmac.compare_digest(signature, sign_body(secret, body))
                delivered = orjson.loads(body)
                assert delivered["account"] == thin.account
                (hooked,) = [e for e in delivered["events"] if e["type"] == "margin_call"]
                assert hooked == call
                assert w.d.vault.settled_batches()[-1].batch.sequence == raised
    finally:
        server.shutdown()


def _webhook_calls() -> bool:
    return any(b"margin_call" in body for body, _ in Receiver.received)


def _read_until_call(ws: Any, out: list[dict[str, Any]]) -> None:
    while True:
        message = ws.receive_json()
        out.append(message)
        if message["type"] == "margin_call":
            return
