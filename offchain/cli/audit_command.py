"""`crossclear audit`: verify a vault's whole history from an RPC endpoint and the published fills."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_PASSED, EXIT_DISCREPANCY, EXIT_ERROR = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="re-derive every settlement from the chain and the published fills")
    p.add_argument("--rpc", required=True, help="JSON-RPC endpoint URL")
    p.add_argument("--vault", required=True, help="vault address")
    p.add_argument("--fills", required=True, type=Path, help="published fills file (crossclear publish)")
    p.add_argument("--from-block", type=int, default=0, help="first block to read logs from (the deployment's)")
    p.add_argument("--block", type=int, default=None, help="audit up to this block (default: the latest)")
    p.add_argument(
        "--registry",
        default=None,
        help="registry address (default: found from the chain, the one registry governed by the vault's governors)",
    )
    p.add_argument(
        "--price-source-key",
        action="append",
        default=[],
        metavar="SOURCE=ADDRESS",
        help="a price source that signs its observations and the address of its key (repeatable): every "
        "published observation of that source must be signed by it",
    )


def source_keys(pairs: list[str]) -> dict[str, str]:
    """`SOURCE=0xADDRESS` pairs (ValueError naming the bad one)."""
    from eth_utils import is_address

    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, address = pair.partition("=")
        if not sep or not name or not is_address(address):
            raise ValueError(f"--price-source-key {pair!r}: expected SOURCE=0xADDRESS")
        out[name] = address
    return out


def run(args: argparse.Namespace) -> int:
    from offchain.audit import AuditError, Discrepancy, run_audit
    from offchain.audit.report import summary

    try:
        keys = source_keys(args.price_source_key)
    except ValueError as exc:
        print(f"crossclear audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        report = run_audit(
            args.rpc, args.vault, args.fills, args.from_block, args.block, registry=args.registry, source_keys=keys
        )
    except Discrepancy as exc:
        print(f"audit FAILED: {exc}", file=sys.stderr)
        return EXIT_DISCREPANCY
    except AuditError as exc:
        print(f"audit could not run: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(summary(report))
    return EXIT_PASSED
