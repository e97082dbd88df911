"""Do the published fills and context match what each batch committed to, and did venues sign the fills?

Per batch, in this order: the published line is the batch's; `contextHash` is keccak256 of the published
context string (zero with no context); `fillsRoot` is the StandardMerkleTree root of the published fills'
leaves, in the published order (zero with none); then per fill: it was not settled before
(`(venue, venue_fill_id)` is unique over the whole history), its venue is published, its symbol maps to
the instrument it is published under, buyer and seller are admitted members, and its signature recovers
to one of the venue's published signer keys under the fills domain (chain id, vault).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils import keccak, to_checksum_address

from offchain.audit.errors import Discrepancy
from offchain.audit.published import Header, PublishedBatch
from offchain.core.batch import Batch
from offchain.core.eip712 import Domain
from offchain.core.fills import InvalidSignature, recover_signer_bytes
from offchain.core.merkle import root_of

ZERO32 = b"\x00" * 32


def check_commitments(batch: Batch, published: PublishedBatch) -> None:
    seq = batch.sequence
    if published.sequence != seq:
        raise Discrepancy(seq, "published", f"the fills file's next line is batch {published.sequence}, not {seq}")
    expected_context = keccak(published.context.encode()) if published.context is not None else ZERO32
    if expected_context != batch.context_hash:
        raise Discrepancy(
            seq,
            "context-hash",
            f"keccak of the published context is 0x{expected_context.hex()}, the batch committed to "
            f"0x{batch.context_hash.hex()}: the published context (marks, funding, terms) is not the one signed",
        )
    root = root_of([f.fill.leaf() for f in published.fills])
    if root != batch.fills_root:
        raise Discrepancy(
            seq,
            "fills-root",
            f"Merkle root of the {len(published.fills)} published fills is 0x{root.hex()}, the batch committed to "
            f"0x{batch.fills_root.hex()}: a fill was altered, dropped or added",
        )


@dataclass
class FillChecker:
    header: Header
    domain: Domain  # the fills domain: chain id and vault
    seen: set[tuple[str, str]] = field(default_factory=set)
    checked: int = 0
    _venue_keys: dict[str, frozenset[bytes]] = field(default_factory=dict)

    def _keys(self, venue: str) -> frozenset[bytes]:
        """The venue's signer addresses as 20 raw bytes (recovery returns those: no checksum per fill)."""
        if venue not in self._venue_keys:
            self._venue_keys[venue] = frozenset(bytes.fromhex(s[2:]) for s in self.header.venues[venue].signers)
        return self._venue_keys[venue]

    def check(self, seq: int, published: PublishedBatch, members: dict[str, int]) -> None:
        separator = self.domain.separator
        for p in published.fills:
            f = p.fill
            ref = f"fill {f.venue}/{f.venue_fill_id}"
            key = (f.venue, f.venue_fill_id)
            if key in self.seen:
                raise Discrepancy(seq, "fill-duplicate", f"{ref} was already settled in an earlier batch")
            self.seen.add(key)
            venue = self.header.venues.get(f.venue)
            if venue is None:
                raise Discrepancy(seq, "fill-venue", f"{ref}: venue {f.venue!r} is not in the published header")
            mapped = venue.symbols.get(f.symbol)
            if mapped != p.instrument:
                raise Discrepancy(
                    seq, "fill-symbol", f"{ref}: symbol {f.symbol!r} maps to {mapped!r}, published as {p.instrument!r}"
                )
            for side, address in (("buyer", f.buyer), ("seller", f.seller)):
                if address not in members:
                    raise Discrepancy(seq, "fill-member", f"{ref}: {side} {address} is not an admitted member")
            try:
                signer = recover_signer_bytes(f.digest_under(separator), p.signature)
            except InvalidSignature as exc:
                raise Discrepancy(seq, "fill-signature", f"{ref}: venue signature is invalid ({exc})") from exc
            if signer not in self._keys(venue.name):
                raise Discrepancy(
                    seq,
                    "fill-signature",
                    f"{ref}: signed by {to_checksum_address(signer)}, "
                    f"not by venue {f.venue}'s key ({', '.join(venue.signers)})",
                )
            self.checked += 1
