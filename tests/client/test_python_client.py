"""The Python client: its README example runs against a devnet (Anvil, the vault, the engine, the API as
`crossclear serve --devnet` builds it), and every route it calls exists in the server's OpenAPI schema with
the response model it expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from offchain.api.deps import wall_ms
from offchain.client import ROUTES
from tests.api.conftest import ALICE, BOB, BTC_MARK, VENUE
from tests.client.conftest import LiveDevnet

README = Path(__file__).resolve().parents[2] / "offchain" / "client" / "README.md"


def test_the_readme_example_runs_against_a_devnet(devnet_server: LiveDevnet) -> None:
    live, d = devnet_server, devnet_server.devnet
    alice, bob = d.member("Alpha Market Making"), d.member("Macro Fund")
    venue = next(v for v in d.spec.venues if v.name == "dex-perp")
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    namespace: dict[str, Any] = {
        "BASE_URL": live.base_url,
        "WS_URL": live.ws_url,
        "VENUE": venue.name,
        "VENUE_KEY": venue.key,
        "ALICE_KEY": alice.key,
        "ALICE": alice.address,
        "ALICE_ACCOUNT": alice.account,
        "BOB": bob.address,
        "BOB_ACCOUNT": bob.account,
        "NOW_MS": wall_ms(),
        "settle": live.settle,
        "fills_root_on_chain": live.fills_root_on_chain,
        "withdrawal_nonce": live.withdrawal_nonce,
        "chain_now": live.chain_now,
    }
    exec(compile(code, str(README), "exec"), namespace)
    # What the example did is on-chain: the batch's posted IM is the API's, the withdrawal is reserved.
    (last,) = [b for b in d.vault.settled_batches() if b.batch.sequence == namespace["sequence"]]
    posted = {r.account: r.im for r in last.batch.requirements}
    assert posted[alice.account] == int(namespace["margin"].posted_im or 0) > 0
    w = d.vault.withdrawal(namespace["w"].id)
    assert (w.account, w.asset, w.amount, w.status) == (alice.account, 0, 1_000 * 10**6, "pending")
    # ... reserved from the balance by the relayed transaction itself.
    block = d.vault.w3.eth.get_transaction_receipt(namespace["w"].tx_hash)["blockNumber"]
    before = d.vault.contract.functions.balanceOf(alice.account, 0).call(block_identifier=block - 1)
    assert d.vault.balance(alice.account, 0) == before - 1_000 * 10**6


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
