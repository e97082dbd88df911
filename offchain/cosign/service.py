"""The co-signer's HTTP service: `POST /v1/sign` with a proposed batch and its published line; the answer
is its EIP-712 signature over the batch (200) or a refusal naming the failed check (409, logged as an
alert). `GET /v1/status`: its signer address and the last batch it replayed.

A co-signer without the published line of a batch that landed (it was down) answers 503 `behind` with the
sequences it lacks; the engine asks again with those lines in `settled` (offchain/cosign/verifier.py).

Input that is not a batch (bad JSON, bad words, a malformed line) is a 400 with the reason; nothing is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from offchain.audit.errors import AuditError, Discrepancy
from offchain.audit.published import parse_batch
from offchain.chain.signers import RiskSigner
from offchain.cosign.verifier import BehindError, ProposalVerifier, StaleProposalError
from offchain.cosign.wire import batch_from_json

log = logging.getLogger("crossclear.cosign")


def build_app(verifier: ProposalVerifier, signer: RiskSigner) -> FastAPI:
    app = FastAPI(title="crossclear co-signer", docs_url=None, redoc_url=None)

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        return {"signer": signer.address, "vault": verifier.vault, "last_sequence": verifier.last_sequence}

    @app.post("/v1/sign")
    async def sign(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            batch = batch_from_json(body["batch"])
            line = parse_batch(body["line"])
            settled = [parse_batch(x) for x in body.get("settled", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": "bad_proposal", "detail": str(exc)[:500]}, status_code=400)
        try:
            if settled:
                verifier.add_settled(settled)
            verifier.check(batch, line)
        except Discrepancy as d:
            log.warning(
                "refused to sign batch %s: [%s] %s",
                batch.sequence,
                d.check,
                d.detail,
                extra={"alert": "cosign_refused", "sequence": batch.sequence, "check": d.check},
            )
            return JSONResponse(
                {"refused": True, "sequence": d.sequence, "check": d.check, "detail": d.detail}, status_code=409
            )
        except StaleProposalError as exc:  # not an alert: the batch landed with the others' signatures
            log.info("batch %s: %s", batch.sequence, exc)
            return JSONResponse({"error": "stale", "detail": str(exc)}, status_code=409)
        except BehindError as exc:
            log.warning("batch %s: behind the chain, lacking the lines of %s", batch.sequence, exc.missing)
            return JSONResponse({"error": "behind", "missing": exc.missing, "detail": str(exc)[:500]}, status_code=503)
        except AuditError as exc:
            return JSONResponse({"error": "cannot_verify", "detail": str(exc)[:500]}, status_code=503)
        sig = signer.sign_digest(batch.digest(verifier.domain))
        return JSONResponse({"signer": sig.signer, "signature": "0x" + sig.signature.hex()})

    return app
