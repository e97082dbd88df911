"""`crossclear gov`: schedule, list, execute and cancel timelocked changes of a deployment.

crossclear gov --config gov.toml schedule list-asset --token 0x… --price 3000000000 --haircut-bps 1500
crossclear gov --config gov.toml schedule set-signers --signer 0x… --signer 0x… --threshold 2
crossclear gov --config gov.toml schedule set-withdrawal-delay 3600   (set-escape-period, set-timelock-delay)
crossclear gov --config gov.toml schedule call --target 0x… --function 'setEntry(bytes32,address)' --arg … --arg …
crossclear gov --config gov.toml list
crossclear gov --config gov.toml execute 0xOPERATION_ID      (cancel 0xOPERATION_ID)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from offchain.app.governance import Change, Governance


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("gov", help="timelocked governance: schedule, list, execute, cancel changes")
    p.add_argument("--config", type=Path, required=True, help="governance settings (docs/operators.md)")
    actions = p.add_subparsers(dest="gov_action", required=True)
    sched = actions.add_parser("schedule", help="schedule a change (it executes after the timelock's delay)")
    sched.add_argument("--delay", type=int, default=None, help="seconds (default: the timelock's minimum)")
    changes = sched.add_subparsers(dest="change", required=True)
    listing = changes.add_parser("list-asset", help="list a collateral token with its first mark")
    listing.add_argument("--token", required=True)
    listing.add_argument(
        "--price", type=int, required=True, help="first mark: settlement-asset base units per whole token (> 0)"
    )
    listing.add_argument("--haircut-bps", type=int, required=True, help="first haircut, 0-10000 bps")
    signers = changes.add_parser("set-signers", help="replace the risk-signer set and threshold")
    signers.add_argument("--signer", action="append", required=True, help="a signer address (repeat)")
    signers.add_argument("--threshold", type=int, required=True)
    for name in ("set-withdrawal-delay", "set-escape-period", "set-timelock-delay"):
        changes.add_parser(name, help=f"{name.removeprefix('set-').replace('-', ' ')}, seconds").add_argument(
            "seconds", type=int
        )
    call = changes.add_parser("call", help="any governed call, e.g. an on-chain registry entry")
    call.add_argument("--target", required=True)
    call.add_argument("--function", required=True, help="signature, e.g. 'setVenueKey(string,address)'")
    call.add_argument("--arg", action="append", default=[], help="an argument (repeat, in order)")
    actions.add_parser("list", help="every scheduled operation and its state")
    for name in ("execute", "cancel"):
        actions.add_parser(name, help=f"{name} a scheduled operation").add_argument("id", help="operation id (0x…)")


def _change(gov: Governance, args: argparse.Namespace) -> Change:
    if args.change == "list-asset":
        return gov.list_asset(args.token, args.price, args.haircut_bps)
    if args.change == "set-signers":
        return gov.set_signers(args.signer, args.threshold)
    if args.change == "set-withdrawal-delay":
        return gov.set_withdrawal_delay(args.seconds)
    if args.change == "set-escape-period":
        return gov.set_escape_period(args.seconds)
    if args.change == "set-timelock-delay":
        return gov.set_timelock_delay(args.seconds)
    return gov.call(args.target, args.function, args.arg)


def run(args: argparse.Namespace) -> int:
    from offchain.app.deploy import check_chain, connect
    from offchain.app.governance import Governance, governance_decoder
    from offchain.app.settings import DeploymentDescription, GovSettings
    from offchain.chain.errors import ChainError, RevertedError
    from offchain.chain.transactions import TxSender
    from offchain.config.keys import load_account
    from offchain.errors import ConfigError

    try:
        settings = GovSettings.load(args.config)
        deployment = DeploymentDescription.load(settings.deployment)
        w3 = connect(settings.rpc_url)
        check_chain(w3, deployment.chain_id)
        gov = Governance(w3, deployment)
        if args.gov_action == "list":
            now = gov.chain_now()
            ops = gov.operations()
            for op in ops:
                when = f"ready in {op.ready_at - now} s" if op.state == "waiting" else op.state
                print(f"0x{op.id.hex()}  {when:<16}  {op.description}")
            if not ops:
                print("no operations scheduled")
            return 0
        proposer = TxSender(w3, load_account(settings.proposer, deployment.chain_id), governance_decoder())
        if args.gov_action == "schedule":
            op = gov.schedule(proposer, _change(gov, args), args.delay)
            ready = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(op.ready_at))
            print(f"scheduled 0x{op.id.hex()}: {op.description}; executable from {ready} (chain time)")
            return 0
        op_id = bytes.fromhex(args.id.removeprefix("0x"))
        if args.gov_action == "cancel":
            gov.cancel(proposer, op_id)
            print(f"cancelled 0x{op_id.hex()}")
            return 0
        executor = proposer
        if settings.executor is not None:
            executor = TxSender(w3, load_account(settings.executor, deployment.chain_id), governance_decoder())
        sent = gov.execute(executor, op_id)
        listed = gov.listed_assets(sent)
        extra = "".join(f"; listed as asset {a}" for a in listed)
        print(f"executed 0x{op_id.hex()} in tx 0x{sent.tx_hash.hex()}{extra}")
        return 0
    except RevertedError as exc:
        print(f"crossclear gov: refused on-chain: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, ChainError) as exc:
        print(f"crossclear gov: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
