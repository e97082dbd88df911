"""The Python client: its README example runs against a real `crossclear serve`-style uvicorn server,
and every route it calls exists in the server's OpenAPI schema with the response model it expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from offchain.api.deps import wall_ms
from offchain.client import ROUTES
from tests.api.conftest import ALICE, BOB, BTC_MARK, VENUE, settle_pending

README = Path(__file__).resolve().parents[2] / "offchain" / "client" / "README.md"


def test_the_readme_example_runs(server: tuple[str, Any]) -> None:
    base, engine = server
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    namespace: dict[str, Any] = {
        "BASE_URL": base,
        "VENUE_KEY": "0x" + bytes(VENUE.key).hex(),
        "ALICE_KEY": "0x" + bytes(ALICE.key).hex(),
        "ALICE": ALICE.address,
        "BOB": BOB.address,
        "NOW_MS": wall_ms(),
        "settle": lambda: settle_pending(engine, 1),
    }
    exec(compile(code, str(README), "exec"), namespace)


def test_every_client_route_is_in_the_openapi_schema(server: tuple[str, Any]) -> None:
    import httpx

    schema = httpx.get(server[0] + "/v1/openapi.json").json()
    for name, (method, path, model) in ROUTES.items():
        op = schema["paths"].get(path, {}).get(method.lower())
        assert op is not None, (name, method, path)
        ok = next(code for code in op["responses"] if code.startswith("2"))
        content = op["responses"][ok]["content"]["application/json"]["schema"]
        if model is not None:
            assert content["$ref"].rsplit("/", 1)[-1] == model.__name__, (name, content)


def test_the_stream_through_the_client(server: tuple[str, Any]) -> None:
    from offchain.client import CrossclearClient
    from offchain.core.fills import Fill

    base, _ = server
    client = CrossclearClient(base)
    client.login("0x" + bytes(ALICE.key).hex())
    events = client.stream(base.replace("http://", "ws://"))
    assert next(events)["type"] == "hello"
    fill = Fill(
        venue="dexA",
        venue_fill_id="s-1",
        symbol="BTC-PERP",
        buyer=ALICE.address,
        seller=BOB.address,
        qty=1,
        price=BTC_MARK,
        ts=wall_ms() - 1_000,
    )
    assert client.submit_fill("0x" + bytes(VENUE.key).hex(), fill).status == "accepted"
    event = next(events)
    assert (event["type"], event["venue_fill_id"], event["side"]) == ("fill", "s-1", "buy")
    events.close()
