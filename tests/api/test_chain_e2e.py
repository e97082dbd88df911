"""The API against a real devnet on Anvil, wired exactly as `crossclear serve --devnet var/devnet.json` wires
it (settings from the devnet file, `build_app`), run in process:

* a member relays its signed vault `WithdrawalRequest` through the API; the withdrawal is on-chain
  (`VaultClient.withdrawal`) and read back through the API; the default fund's size is read from chain;
* a real Safe 1.4.1 (from the npm artefacts) applies, is admitted, logs in and relays a withdrawal with
  its owners' EIP-1271 signature (the API asks the Safe, then the vault asks it again); one owner of the
  two required is refused with a 4xx reason, before any gas is paid.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from offchain.api.signing import api_domain, sign_request, sign_request_with
from offchain.chain.deploy import mint
from offchain.chain.safe import SafeInfra, SafeMultisig
from offchain.chain.vault import vault_sender
from offchain.cli.main import build_parser
from offchain.cli.serve_command import build_app, devnet_relayer_key, settings_from_args
from offchain.core.batch import DEFAULT_FUND_ACCOUNT
from offchain.core.withdrawal import WithdrawalRequest
from offchain.devnet.bootstrap import fund_gas, new_key
from tests.settlement.conftest import USDC, Devnet, make_devnet

pytestmark = pytest.mark.anvil

TREASURY = "0x" + "7e" * 20
DAO = {"name": "Safe DAO", "kind": "dao", "tier": "tier2", "group": "treasury"}


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'ledger.db'}"
    yield from make_devnet(url, default_fund_usdc=1_500_000)


@pytest.fixture(scope="module")
def client(devnet: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app `crossclear serve --devnet <file> --db <url>` would run."""
    path = tmp_path_factory.mktemp("spec") / "devnet.json"
    devnet.spec.save(path)
    args = build_parser().parse_args(["serve", "--devnet", str(path), "--db", devnet.db_url])
    settings = settings_from_args(args)
    assert settings.rpc_url == devnet.spec.rpc_url and settings.relayer_key is not None
    with TestClient(build_app(settings, args.devnet)) as c:  # as `serve` runs it: funds its own relayer
        yield c


def signed(c: TestClient, devnet: Devnet, key: str, method: str, path: str, payload: Any) -> Any:
    body = sign_request(
        key,
        api_domain(devnet.spec.chain_id, devnet.spec.vault),
        method,
        path,
        payload,
        secrets.randbits(128),
        devnet.now_ms() // 1000 + 600,
    )
    return c.request(method, path, json=body)


def login(c: TestClient, devnet: Devnet, key: str) -> dict[str, str]:
    r = signed(c, devnet, key, "POST", "/v1/auth/login", {"purpose": "login"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def withdrawal_request(devnet: Devnet, member: str, amount: int, to: str = TREASURY) -> WithdrawalRequest:
    vault = devnet.vault
    return WithdrawalRequest(
        member=member,
        asset=0,
        amount=amount,
        to=to,
        nonce=int(vault.contract.functions.withdrawalNonce(member).call()),
        deadline=devnet.now_ms() // 1000 + 3600,
    )


def submit(req: WithdrawalRequest, signature: bytes) -> dict[str, Any]:
    return {
        "member": req.member,
        "asset": req.asset,
        "amount": str(req.amount),
        "to": req.to,
        "nonce": str(req.nonce),
        "deadline": req.deadline,
        "signature": "0x" + signature.hex(),
    }


def test_member_relays_a_signed_withdrawal_through_the_api(devnet: Devnet, client: TestClient) -> None:
    m = devnet.member("Macro Fund")
    devnet.deposit(m.name, 10_000)
    req = withdrawal_request(devnet, m.address, 2_500 * USDC)
    sig = bytes(Account.unsafe_sign_hash(req.digest(devnet.vault.domain), m.key).signature)
    # The vault's contract agrees with the Python digest the API checks.
    assert bytes(devnet.vault.contract.functions.withdrawalRequestDigest(req.as_call_args()).call()) == req.digest(
        devnet.vault.domain
    )
    r = client.post(f"/v1/members/{m.account}/withdrawals", json=submit(req, sig))
    assert r.status_code == 201, r.text
    out = r.json()
    on_chain = devnet.vault.withdrawal(out["id"])
    assert (on_chain.account, on_chain.asset, on_chain.amount, on_chain.status) == (
        m.account,
        0,
        2_500 * USDC,
        "pending",
    )
    assert on_chain.to.lower() == TREASURY and out["ready_at"] == on_chain.ready_at
    assert devnet.vault.balance(m.account, 0) == 7_500 * USDC  # reserved from the balance at request time

    h = login(client, devnet, m.key)
    got = client.get(f"/v1/members/{m.account}/withdrawals/{out['id']}", headers=h).json()
    assert got["status"] == "pending" and got["amount"] == str(2_500 * USDC) and got["account"] == m.account
    listed = client.get(f"/v1/members/{m.account}/withdrawals", headers=h).json()
    assert [w["id"] for w in listed] == [out["id"]] and listed[0]["tx_hash"].startswith("0x")
    # The relay's answer, the single read and the list name the same transaction, and it is on-chain.
    assert out["tx_hash"] == got["tx_hash"] == listed[0]["tx_hash"]
    assert devnet.vault.w3.eth.get_transaction_receipt(out["tx_hash"])["status"] == 1

    # The same signed request again: the vault's nonce moved on, its refusal comes back by name.
    r = client.post(f"/v1/members/{m.account}/withdrawals", json=submit(req, sig))
    assert r.status_code == 409 and r.json()["error"] == "vault_refused" and "InvalidNonce" in r.json()["detail"]
    # Another member's account, or another member's key: refused before any gas is paid.
    other = devnet.member("Alpha Market Making")
    r = client.post(f"/v1/members/{other.account}/withdrawals", json=submit(req, sig))
    assert r.status_code == 403
    req2 = withdrawal_request(devnet, m.address, USDC)
    forged = bytes(Account.unsafe_sign_hash(req2.digest(devnet.vault.domain), other.key).signature)
    r = client.post(f"/v1/members/{m.account}/withdrawals", json=submit(req2, forged))
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"


def test_default_fund_is_read_from_chain(devnet: Devnet, client: TestClient) -> None:
    fund = client.get("/v1/default-fund").json()
    assert fund["source"] == "chain" and fund["account"] == DEFAULT_FUND_ACCOUNT
    balances = {b["asset"]: int(b["amount"]) for b in fund["balances"]}
    assert balances[0] == 1_500_000 * USDC == devnet.vault.balance(DEFAULT_FUND_ACCOUNT, 0)
    assert set(balances) == set(range(len(devnet.spec.collateral)))
    assert client.get("/v1/health").json()["chain"] is True


@pytest.fixture(scope="module")
def safe(devnet: Devnet) -> SafeMultisig:
    """A 2-of-3 Safe 1.4.1 whose owners are fresh keys."""
    operator = vault_sender(devnet.vault.w3, devnet.spec.operator_key)
    infra = SafeInfra.deploy(operator)
    owners = [new_key()[0] for _ in range(3)]
    return infra.create_safe(operator, owners, threshold=2)


def test_safe_member_end_to_end(devnet: Devnet, client: TestClient, safe: SafeMultisig) -> None:
    spec, vault = devnet.spec, devnet.vault
    domain = api_domain(spec.chain_id, spec.vault)
    now = devnet.now_ms() // 1000

    def safe_signed(path: str, payload: Any, owners: int | list[int] | None = None) -> Any:
        body = sign_request_with(
            lambda d: safe.sign_1271(d, owners),
            safe.address,
            domain,
            "POST",
            path,
            payload,
            secrets.randbits(128),
            now + 600,
        )
        return client.post(path, json=body)

    # (a) The Safe applies with an ApiRequest signed by two owners: the API asks isValidSignature.
    r = safe_signed("/v1/membership/applications", DAO)
    assert r.status_code == 201, r.text
    application = r.json()
    assert application["address"] == safe.address
    # (c) One owner of the two required: the Safe refuses, the API says why.
    r = safe_signed("/v1/auth/login", {"purpose": "login"}, owners=1)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    assert "isValidSignature" in r.json()["detail"]
    # An owner's own ECDSA signature is not the Safe's.
    r = safe_signed("/v1/auth/login", {"purpose": "login"}, owners=[])
    assert r.status_code in (401, 422)

    # The operator admits the Safe on-chain, then approves it through the API (which checks accountOf).
    operator = vault_sender(vault.w3, spec.operator_key)
    path = f"/v1/membership/applications/{application['id']}/approve"
    r = signed(client, devnet, spec.operator_key, "POST", path, {"account": 999})
    assert r.status_code >= 400 and r.status_code < 500  # not the Safe's account on-chain
    account = vault.admit_member(operator, safe.address)
    r = signed(client, devnet, spec.operator_key, "POST", path, {"account": account})
    assert r.status_code == 200, r.text

    r = safe_signed("/v1/auth/login", {"purpose": "login"})
    assert r.status_code == 200, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    me = client.get("/v1/members/me", headers=h).json()
    assert me["account"] == account and me["kind"] == "dao" and me["status"] == "active"

    # (b) Deposit (an owner pays) and relay a withdrawal the Safe signed with EIP-1271.
    payer_key, payer = new_key()
    fund_gas(vault.w3, spec.operator_key, payer)
    mint(operator, spec.tokens["USDC"], payer, 5_000 * USDC)
    vault.deposit(vault_sender(vault.w3, payer_key), safe.address, 0, 5_000 * USDC)

    req = withdrawal_request(devnet, safe.address, 1_200 * USDC)
    digest = req.digest(vault.domain)
    one = safe.sign_1271(digest, 1)
    r = client.post(f"/v1/members/{account}/withdrawals", json=submit(req, one))
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    assert int(vault.contract.functions.withdrawalNonce(safe.address).call()) == req.nonce  # nothing relayed

    r = client.post(f"/v1/members/{account}/withdrawals", json=submit(req, safe.sign_1271(digest, [2, 0])))
    assert r.status_code == 201, r.text
    w = vault.withdrawal(r.json()["id"])
    assert (w.account, w.amount, w.status) == (account, 1_200 * USDC, "pending")
    assert vault.balance(account, 0) == 3_800 * USDC
    got = client.get(f"/v1/members/{account}/withdrawals/{w.id}", headers=h).json()
    assert got["amount"] == str(1_200 * USDC) and got["to"].lower() == TREASURY


def test_serve_devnet_env_relayer_wins(devnet: Devnet, tmp_path: Path) -> None:
    """A relayer key of its own relays by default (never the operator's: the settlement engine sends from
    it, and two senders on one account race for nonces); CROSSCLEAR_API_RELAYER_KEY names another."""
    path = tmp_path / "devnet.json"
    devnet.spec.save(path)
    args = build_parser().parse_args(["serve", "--devnet", str(path)])
    mp = pytest.MonkeyPatch()
    relayer = "0x" + "5a" * 32
    mp.setenv("CROSSCLEAR_API_RELAYER_KEY", relayer)
    try:
        s = settings_from_args(args)
    finally:
        mp.undo()
    assert s.relayer_key is not None and s.relayer_key.get_secret_value() == relayer
    s = settings_from_args(args)
    assert s.relayer_key is not None and s.relayer_key.get_secret_value() == devnet_relayer_key(
        devnet.spec.operator_key
    )
    assert s.relayer_key.get_secret_value() != devnet.spec.operator_key


def test_settled_batch_feeds_positions_and_margin_breakdown(devnet: Devnet, client: TestClient) -> None:
    """Fills through the API, one batch by the settlement engine: entry prices, the ADL queue and the
    margin endpoint's per-asset collateral (on-chain balances × posted marks × haircuts, the model's
    haircut)."""
    from offchain.devnet.runtime import settlement_engine
    from tests.settlement.conftest import BTC_QTY

    mm, fund = devnet.member("Alpha Market Making"), devnet.member("Macro Fund")
    devnet.deposit(mm.name, 400_000)
    devnet.deposit(fund.name, 100_000)
    weth = devnet.spec.assets["WETH"]
    operator = vault_sender(devnet.vault.w3, devnet.spec.operator_key)
    mint(operator, devnet.spec.tokens["WETH"], mm.address, 10 * 10**18)
    devnet.vault.deposit(vault_sender(devnet.vault.w3, mm.key), mm.address, weth, 10 * 10**18)
    devnet.prices(btc=20_000)
    venue = next(v for v in devnet.spec.venues if v.name == "dex-perp")
    for fid, px in (("e-1", 19_900), ("e-2", 20_100)):
        fill, sig = devnet.fill("dex-perp", fid, "BTC-PERP", fund.name, mm.name, BTC_QTY, px)
        f = fill.model_dump()
        f["qty"], f["price"] = str(f["qty"]), str(f["price"])
        r = client.post("/v1/venues/dex-perp/fills", json={"fill": f, "signature": "0x" + sig.hex()})
        assert r.status_code == 200 and r.json()["status"] == "accepted", (venue.name, r.text)
    assert settlement_engine(devnet.spec, devnet.db).step().action == "settled"

    h = login(client, devnet, fund.key)
    (pos,) = client.get(f"/v1/members/{fund.account}/positions", headers=h).json()["netted"]
    assert pos["qty"] == str(2 * BTC_QTY) and pos["entry_price"] == str(20_000 * USDC)
    assert pos["unrealised_pnl"] == "0" and pos["adl_rank"] is None  # settled at 20,000: no profit yet

    hm = login(client, devnet, mm.key)
    m = client.get(f"/v1/members/{mm.account}/margin", headers=hm).json()
    by_asset = {a["asset"]: a for a in m["collateral"]}
    assert int(by_asset[0]["balance"]) == devnet.vault.balance(mm.account, 0)
    assert by_asset[0]["haircut_bps"] == 0 and by_asset[0]["haircut_value"] == by_asset[0]["balance"]
    eth = by_asset[weth]
    assert eth["balance"] == str(10 * 10**18) and eth["decimals"] == 18
    assert int(eth["price"]) == 1_500 * USDC and int(eth["value"]) == 15_000 * USDC
    assert 0 < eth["haircut_bps"] < 10_000 and eth["model_haircut_bps"] >= eth["haircut_bps"]
    assert int(eth["haircut_value"]) == 15_000 * USDC * (10_000 - eth["haircut_bps"]) // 10_000
    assert int(m["collateral_value_posted"]) == sum(int(a["haircut_value"] or 0) for a in m["collateral"])
