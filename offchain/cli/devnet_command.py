"""`crossclear devnet`: a long-running local crossclear to point `engine`, `serve` and `audit` at.

Starts Anvil, deploys the tokens and the vault, registers the venues, instruments and members, funds the
members and the default fund, starts three co-signer processes (`crossclear cosign`, one per risk-signer
key: they verify every batch the engine proposes and sign only those that pass), writes the devnet file
(var/devnet.json, with the co-signers' URLs: an engine opened on it holds no risk key) and the ledger, and
keeps the chain and the co-signers up until interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from offchain.ledger.handles import Engine

MEMBERS = (
    ("DEX retail pool", "retail_pool", "tier2", "retail"),
    ("Alpha Market Making", "market_maker", "tier1", "professional"),
    ("Beta Market Making", "market_maker", "tier1", "professional"),
    ("Macro Fund", "hedge_fund", "tier2", "buy_side"),
    ("Protocol DAO", "dao", "tier2", "treasury"),
    ("Open Source Foundation", "foundation", "tier2", "treasury"),
    ("Family Office", "family_office", "tier3", "buy_side"),
)
USDC = 10**6


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devnet", help="start a local devnet (Anvil, vault, venues, members) and keep it up")
    p.add_argument("--port", type=int, default=8545, help="Anvil port")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL to create and register into")
    p.add_argument("--out", type=Path, default=Path("var/devnet.json"), help="devnet description file to write")
    p.add_argument("--risk-asof", default="2022-11-01", help="calibration date of the risk model (YYYY-MM-DD)")
    p.add_argument("--deposit", type=int, default=1_000_000, help="USDC each member deposits")
    p.add_argument(
        "--feed-interval",
        type=float,
        default=10.0,
        help="seconds between republishing the static price snapshot (the day's close at --risk-asof)",
    )


def run(args: argparse.Namespace) -> int:
    from offchain.chain.anvil import Anvil, AnvilError
    from offchain.chain.deploy import mint
    from offchain.chain.vault import vault_sender
    from offchain.devnet.bootstrap import bring_up
    from offchain.devnet.cosigners import CosignerStartError, devnet_cosigners
    from offchain.devnet.runtime import connect
    from offchain.ledger.db import open_ledger
    from offchain.ledger.prices import publish_underlyings

    db = open_ledger(args.db)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with Anvil(port=args.port) as anvil:
            spec = bring_up(anvil.web3(), anvil.url, db, MEMBERS, args.risk_asof)
            vault = connect(spec)
            operator = vault_sender(vault.w3, spec.operator_key)
            for m in spec.members:
                mint(operator, spec.tokens["USDC"], m.address, args.deposit * USDC)
                vault.deposit(vault_sender(vault.w3, m.key), m.address, 0, args.deposit * USDC)
            snapshot = closes_at(args.risk_asof)
            publish_underlyings(db, snapshot, "devnet-static")
            with devnet_cosigners(spec, args.db, args.out.parent / "cosign") as spec:
                spec.save(args.out)
                print(f"devnet up: {anvil.url}, vault {spec.vault}, {len(spec.members)} members; wrote {args.out}")
                print(
                    f"{len(spec.cosigners)} co-signer processes sign its batches ({spec.threshold} of "
                    f"{len(spec.cosigners)}): " + ", ".join(spec.cosigners) + f"; logs in {args.out.parent / 'cosign'}"
                )
                _serve(args, db, snapshot, stop)
    except (AnvilError, CosignerStartError) as exc:
        print(f"crossclear devnet: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    return 0


def _serve(args: argparse.Namespace, db: Engine, snapshot: dict[str, float], stop: threading.Event) -> None:
    """Keep the chain and the co-signers up, republishing the static prices, until interrupted."""
    from offchain.ledger.prices import publish_underlyings

    print("static prices (close of " + args.risk_asof + "): " + ", ".join(f"{k} {v:,.2f}" for k, v in snapshot.items()))
    print(f"next: crossclear engine --devnet {args.out} --db {args.db}   (Ctrl-C here stops the chain)")
    sys.stdout.flush()
    while not stop.wait(args.feed_interval):
        publish_underlyings(db, snapshot, "devnet-static")


def closes_at(asof: str) -> dict[str, float]:
    """BTC and ETH daily closes on `asof` from the project's market data: the devnet's static prices."""
    import numpy as np

    from offchain.risk.calibration import DATA_DIR
    from offchain.risk.marketdata import load_candles

    spot = load_candles(DATA_DIR / "binance-spot-daily.csv.gz", symbols=["BTC", "ETH"])
    row = int(np.searchsorted(spot.dates, np.datetime64(asof), side="right")) - 1
    if row < 0:
        raise ValueError(f"no market data on or before {asof}")
    return {s: float(spot.close[row, spot.index(s)]) for s in ("BTC", "ETH")}
