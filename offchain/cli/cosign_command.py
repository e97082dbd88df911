"""`crossclear cosign --config FILE`: run one co-signer (offchain/cosign): verify each proposed batch with
the auditor's checks against its own view of the chain, and sign it only if every check passes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cosign", help="run a co-signer: verify proposed batches, sign those that pass")
    p.add_argument("--config", type=Path, required=True, help="co-signer settings file (TOML or JSON)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from offchain.app.deploy import connect
    from offchain.audit.errors import AuditError, Discrepancy
    from offchain.chain.signers import RiskSigner
    from offchain.config.keys import load_account
    from offchain.core.logs import configure_json_logging
    from offchain.cosign.service import build_app
    from offchain.cosign.settings import CosignSettings
    from offchain.cosign.verifier import BehindError, ProposalVerifier
    from offchain.errors import ConfigError

    configure_json_logging(logging.INFO)
    try:
        settings = CosignSettings.load(args.config)
        w3 = connect(settings.rpc_url, settings.rpc_timeout_s)
        signer = RiskSigner(load_account(settings.key, int(w3.eth.chain_id)))
        verifier = ProposalVerifier(
            w3,
            settings.vault,
            settings.registry,
            settings.history,
            settings.registry_ttl_s,
            source_keys=settings.price_source_keys,
            published_sources=settings.published,
        )
        try:
            verifier.sync()  # the history so far, audited before the first signature
        except BehindError as exc:  # none of its sources has every line yet: the engine sends the rest
            print(f"crossclear cosign: {exc}; they come with the next proposal", file=sys.stderr, flush=True)
    except (ConfigError, ValueError, OSError, AuditError) as exc:
        print(f"crossclear cosign: {exc}", file=sys.stderr)
        return 2
    except Discrepancy as d:
        print(f"crossclear cosign: the settled history fails the audit, refusing to sign: {d}", file=sys.stderr)
        return 1
    print(
        f"co-signer {signer.address} for vault {verifier.vault}: history verified to batch "
        f"{verifier.last_sequence}; listening on {settings.host}:{settings.port}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(build_app(verifier, signer), host=settings.host, port=settings.port, log_level="warning")
    return 0
