"""`crossclear serve`: run the HTTP API (uvicorn) over a ledger, optionally bound to a devnet's chain."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI
    from web3 import Web3

    from offchain.api.config import ApiSettings
    from offchain.defaults.house import AuctionHouse
    from offchain.devnet.spec import DevnetSpec
    from offchain.ingest.limits import PositionLimit
    from offchain.ingest.service import Ingestor
    from offchain.ledger.handles import Engine


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (venues, members, auditors), OpenAPI at /v1/docs")
    p.add_argument(
        "--db", default=None, help="ledger URL (default: CROSSCLEAR_API_DB_URL or sqlite:///var/crossclear.db)"
    )
    node = p.add_mutually_exclusive_group()
    node.add_argument(
        "--config", type=Path, default=None, help="API node settings file (TOML): deployment, RPC, relayer keystore"
    )
    node.add_argument("--devnet", type=Path, default=None, help="devnet file: chain id, vault, RPC, operator, relayer")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)


def settings_from_args(args: argparse.Namespace) -> ApiSettings:
    """ApiSettings from the environment, then the node settings file (a deployment: `--config`) or the devnet
    file, then --db."""
    from eth_account import Account

    from offchain.api.config import ENV_PREFIX, ApiSettings
    from offchain.devnet.spec import DevnetSpec

    if getattr(args, "config", None) is not None:
        from offchain.app.settings import ApiNodeSettings
        from offchain.app.wiring import api_settings

        node = ApiNodeSettings.load(args.config, **({"db_url": args.db} if args.db else {}))
        return api_settings(node)

    overrides: dict[str, object] = {"db_url": args.db}
    if args.devnet is not None:
        spec = DevnetSpec.load(args.devnet)
        overrides.update(
            chain_id=spec.chain_id,
            vault=spec.vault,
            rpc_url=spec.rpc_url,
            operator_address=Account.from_key(spec.operator_key).address,
        )
        # A relayer key of its own (unless the environment names one): never the operator's, which the
        # settlement engine sends from (two senders on one account race for nonces and fail relays).
        if ENV_PREFIX + "RELAYER_KEY" not in os.environ:
            overrides["relayer_key"] = devnet_relayer_key(spec.operator_key)
    return ApiSettings.from_env(overrides=overrides)


def devnet_relayer_key(operator_key: str) -> str:
    """The devnet's relayer key: derived from its operator key (the same account every time `serve` runs
    against the same devnet), and distinct from it. `build_app` gives it gas on Anvil."""
    from eth_utils import keccak

    return "0x" + keccak(b"crossclear devnet relayer" + bytes.fromhex(operator_key.removeprefix("0x"))).hex()


def fund_devnet_relayer(w3: Web3, address: str, wei: int = 100 * 10**18) -> None:
    """Top the relayer up with Anvil's `anvil_setBalance` (devnet only: no transaction, so no nonce of
    anyone else's is touched). A devnet that does not answer is reported, not fatal: relays then fail
    with 424 until it does."""
    from eth_utils import to_checksum_address
    from web3.types import RPCEndpoint

    from offchain.api.chain import TRANSPORT_ERRORS

    try:
        if w3.eth.get_balance(to_checksum_address(address)) < wei // 10:
            w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(wei)])
    except TRANSPORT_ERRORS as exc:
        print(f"crossclear serve: could not fund the devnet relayer {address}: {exc}", file=sys.stderr)


def build_app(
    settings: ApiSettings, devnet: Path | None = None, position_limit: PositionLimit | None = None
) -> FastAPI:
    """The app over `settings`; with a devnet file also the auction house its spec describes (bids at
    /v1/auctions/bids; without one those routes answer 424 `auctions_unavailable`)."""
    from web3 import HTTPProvider, Web3

    from offchain.api.chain import Web3Chain
    from offchain.api.main import create_app
    from offchain.chain.vault import VaultClient, vault_sender
    from offchain.devnet import runtime
    from offchain.devnet.spec import DevnetSpec

    chain = None
    if settings.rpc_url:
        # Short timeouts and no retries: a slow RPC must cost a request seconds, not minutes (the API's
        # circuit breaker then stops calling it for a while).
        provider = HTTPProvider(
            settings.rpc_url, request_kwargs={"timeout": settings.chain_timeout_s}, exception_retry_configuration=None
        )
        w3 = Web3(provider)
        vault = VaultClient(w3, settings.vault)
        relayer = None
        if settings.relayer_key is not None:
            relayer = vault_sender(w3, settings.relayer_key.get_secret_value())
            if devnet is not None:
                fund_devnet_relayer(w3, relayer.address)
        chain = Web3Chain(vault, relayer)
    house: Callable[[Engine, Ingestor], AuctionHouse] | None = None
    limit = position_limit
    if devnet is not None:
        spec = DevnetSpec.load(devnet)
        if spec.auction_venue is not None and spec.house_account:

            def house(engine: Engine, ingest: Ingestor) -> AuctionHouse:
                return runtime.auction_house(spec, engine, ingest=ingest)

        else:
            print("crossclear serve: this devnet has no auction venue; /v1/auctions is off", file=sys.stderr)
        if spec.collateral:
            limit = devnet_position_limit(spec, settings.db_url)
        else:  # no risk engine can margin it (nor run on it): say so, as for the auction house
            print("crossclear serve: this devnet lists no collateral; fills are not position-limited", file=sys.stderr)
    return create_app(settings, chain=chain, auction_house=house, position_limit=limit)


def node_position_limit(config: Path, db_url: str) -> PositionLimit | None:
    """The position-limit check of the engine whose settings file the node settings name (None: none named)."""
    from offchain.app.settings import ApiNodeSettings, EngineSettings
    from offchain.app.wiring import risk_margin
    from offchain.ledger.db import open_ledger

    node = ApiNodeSettings.load(config)
    if node.engine is None:
        return None
    db = open_ledger(db_url)
    try:
        return risk_margin(EngineSettings.load(node.engine), db).position_limit
    finally:
        db.dispose()


def devnet_position_limit(spec: DevnetSpec, db_url: str) -> PositionLimit:
    """The risk engine's position-limit check, on the model the devnet's engine margins with (its tier
    table and each instrument's depth): ingest refuses a fill beyond a member's limit (`POSITION_LIMIT`)."""
    from offchain.app.wiring import risk_margin
    from offchain.devnet.runtime import engine_settings
    from offchain.ledger.db import open_ledger

    db = open_ledger(db_url)
    try:
        return risk_margin(engine_settings(spec, db_url), db).position_limit
    finally:
        db.dispose()


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from offchain.errors import CrossclearError

    try:
        settings = settings_from_args(args)
    except (ValueError, ValidationError, CrossclearError) as exc:
        print(f"crossclear serve: {exc}", file=sys.stderr)
        return 2
    limit = None
    if args.config is not None:
        try:
            limit = node_position_limit(args.config, settings.db_url)
        except (ValueError, ValidationError, CrossclearError) as exc:
            print(f"crossclear serve: {exc}", file=sys.stderr)
            return 2
    app = build_app(settings, args.devnet, limit)
    from offchain.api.bodyguard import restore_recursion_limit

    restore_recursion_limit()  # again, after every import serve made (create_app did it too)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
