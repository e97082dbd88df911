"""The engine's side: gather co-signers' signatures over a proposed batch until the vault's threshold.

Every co-signer is asked at once (HTTP, in parallel); a signature counts only if it recovers to the signer
it names over the batch's digest. A co-signer that answers `behind` (it was down while batches landed) is
asked once more with the published lines of the batches it lacks, read from the ledger as `crossclear
publish` writes them; it replays them against the chain before it checks the proposal. Fewer than
`threshold` signatures is `CosignRefusedError`, naming each
co-signer's refusal (the check that failed) or error: the batch is not sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from offchain.audit import published as pub
from offchain.chain.signers import SignaturesRefusedError, SignerSignature
from offchain.core.eip712 import Domain
from offchain.core.fills import InvalidSignature, recover_signer
from offchain.cosign.wire import batch_json
from offchain.ledger import publication
from offchain.ledger.batches import BatchPayload
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.views import published as published_view

log = logging.getLogger("crossclear.cosign")


class CosignRefusedError(SignaturesRefusedError):
    """Fewer co-signers than the threshold signed; `refusals`: co-signer URL -> why (check name or error)."""

    def __init__(self, sequence: int, refusals: dict[str, str]) -> None:
        self.sequence = sequence
        self.refusals = refusals
        said = "; ".join(f"{u}: {r}" for u, r in sorted(refusals.items()))
        super().__init__(f"batch {sequence}: not enough co-signatures ({said})")


def proposal_line(conn: Connection, payload: BatchPayload) -> dict[str, Any]:
    """The batch's published line (what `crossclear publish` will write once it is confirmed)."""
    fills = tuple(publication.published_fill(r) for r in published_view.fills_by_id(conn, payload.fill_ids))
    seq = payload.batch.sequence
    line = pub.PublishedBatch(
        sequence=seq,
        context=payload.context or None,
        fills=fills,
        defaults=publication.read_defaults(conn).get(seq),
        model=dict(payload.model) or None,
        price_evidence=dict(payload.price_evidence) or None,
    )
    return pub.batch_json(line)


def settled_lines(conn: Connection, sequences: Sequence[int]) -> list[dict[str, Any]]:
    """The published lines of these confirmed batches (those the ledger has)."""
    wanted = set(sequences)
    return [pub.batch_json(b) for b in publication.read_batches(conn) if b.sequence in wanted]


@dataclass
class RemoteCosigners:
    urls: Sequence[str]
    threshold: int
    db: Engine
    domain: Domain
    timeout_s: float = 30.0

    def collect(self, payload: BatchPayload) -> list[SignerSignature]:
        with self.db.connect() as conn:
            body = {"batch": batch_json(payload.batch), "line": proposal_line(conn, payload)}
        digest = payload.batch.digest(self.domain)
        seq = payload.batch.sequence
        signatures: dict[str, SignerSignature] = {}
        refusals: dict[str, str] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.urls)), thread_name_prefix="cosign")
        try:
            pending: dict[Future[SignerSignature | str], str] = {
                pool.submit(self._ask, url, body, digest): url for url in self.urls
            }
            while pending and len(signatures) < self.threshold:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    url = pending.pop(fut)
                    result = fut.result()
                    if isinstance(result, SignerSignature):
                        signatures[result.signer] = result
                    else:
                        refusals[url] = result
                        log.warning("co-signer %s did not sign batch %s: %s", url, seq, result)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if len(signatures) < self.threshold:
            raise CosignRefusedError(seq, refusals)
        return sorted(signatures.values(), key=lambda s: int(s.signer, 16))

    def _ask(self, url: str, body: dict[str, Any], digest: bytes) -> SignerSignature | str:
        """The co-signer's signature, or why there is none."""
        answer = self._post(url, body)
        if isinstance(answer, str):
            return answer
        r, reply = answer
        if r.status_code == 503 and reply.get("error") == "behind":
            missing = [int(x) for x in reply.get("missing", [])]
            with self.db.connect() as conn:
                settled = settled_lines(conn, missing)
            log.info("co-signer %s is behind: sending the lines of batches %s", url, missing)
            answer = self._post(url, {**body, "settled": settled})
            if isinstance(answer, str):
                return answer
            r, reply = answer
        return self._signature(r, reply, digest)

    def _post(self, url: str, body: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]] | str:
        try:
            r = httpx.post(f"{url.rstrip('/')}/v1/sign", json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return f"unreachable: {exc}"
        try:
            answer = r.json()
        except ValueError:
            return f"HTTP {r.status_code}: not JSON"
        if not isinstance(answer, dict):
            return f"HTTP {r.status_code}: not a JSON object"
        return r, answer

    @staticmethod
    def _signature(r: httpx.Response, answer: dict[str, Any], digest: bytes) -> SignerSignature | str:
        if r.status_code == 409 and answer.get("error") == "stale":
            return f"stale proposal: {answer.get('detail')}"
        if r.status_code == 409:
            return f"refused [{answer.get('check')}] {answer.get('detail')}"
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {answer.get('error')} {answer.get('detail')}"
        try:
            signer, signature = str(answer["signer"]), bytes.fromhex(str(answer["signature"]).removeprefix("0x"))
            if recover_signer(digest, signature) != signer:
                return f"signature does not recover to {signer}"
        except (KeyError, ValueError, InvalidSignature) as exc:
            return f"bad signature: {exc}"
        return SignerSignature(signer, signature)
