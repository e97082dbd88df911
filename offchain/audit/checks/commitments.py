"""Do the published fills and context match what each batch committed to, and did venues sign the fills?

Per batch, in this order: the published line is the batch's; `contextHash` is keccak256 of the published
context string (zero with no context); `fillsRoot` is the StandardMerkleTree root of the published fills'
leaves, in the published order (zero with none); then per fill: it was not settled before
(`(venue, venue_fill_id)` is unique over the whole history), its venue is published, its symbol maps to
the instrument it is published under, buyer and seller are admitted members, and its signature recovers
to one of the venue's published signer keys under the fills domain (chain id, vault).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eth_utils import keccak, to_checksum_address

from offchain.audit.errors import Discrepancy
from offchain.audit.published import PublishedBatch
from offchain.chain.registry import RegistryState
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
    """Per fill, against the registry (never the published header): not settled before; its venue is
    registered (`fill-venue`); the venue's symbol maps to the published instrument and was mapped by the
    batch's asOf (`fill-symbol`); buyer and seller are admitted members (`fill-member`); the signature
    recovers to the venue's registered key valid at the fill's timestamp (`fill-signature`: a fill re-signed
    by any other key, or signed before the key's window or after it ended, fails); the price is on the
    instrument's tick (`fill-tick`); the timestamp lies in the ingest window (`fill-window`): at most
    `fillMaxAheadMs` after the batch's asOf, and at most `fillMaxAgeMs` before the asOf of the last batch that
    marked its instrument (a fill older than that would have been settled there)."""

    registry: RegistryState
    domain: Domain  # the fills domain: chain id and vault
    seen: set[tuple[str, str]] = field(default_factory=set)  # (venue, fill id) settled (in a fork: since it)
    checked: int = 0
    last_marked: dict[str, int] = field(default_factory=dict)  # instrument -> asOf of the last batch marking it
    _keys: dict[tuple[str, int], bytes | None] = field(default_factory=dict)
    # in a fork (a co-signer checking a proposal): the checker it was forked from, read and never written, so
    # that a fork costs the proposal's fills, not a copy of every fill id ever settled
    before: FillChecker | None = None

    def settled(self, key: tuple[str, str]) -> bool:
        return key in self.seen or (self.before is not None and self.before.settled(key))

    def fork(self) -> FillChecker:
        """A checker for one proposal: the fills settled so far read through this one, the key cache shared
        (a pure function of the registry snapshot, which is shared too)."""
        return FillChecker(
            self.registry, self.domain, set(), self.checked, dict(self.last_marked), self._keys, before=self
        )

    def registry_changed(self, registry: RegistryState) -> None:
        """A new registry snapshot: the key cache was the old one's."""
        self.registry = registry
        self._keys = {}

    def _key_at(self, venue: str, ts_s: int) -> bytes | None:
        """The venue's key valid at `ts_s` as 20 raw bytes (recovery returns those: no checksum per fill)."""
        k = (venue, ts_s)
        if k not in self._keys:
            key = self.registry.key_at(venue, ts_s)
            self._keys[k] = bytes.fromhex(key[2:]) if key is not None else None
        return self._keys[k]

    def marked(self, instruments: Iterable[str], as_of: int) -> None:
        for name in instruments:
            self.last_marked[name] = as_of

    def check(self, seq: int, as_of: int, published: PublishedBatch, members: dict[str, int]) -> None:
        separator = self.domain.separator
        params = self.registry.params
        latest_ms = as_of * 1000 + params.fill_max_ahead_ms
        for p in published.fills:
            f = p.fill
            ref = f"fill {f.venue}/{f.venue_fill_id}"
            key = (f.venue, f.venue_fill_id)
            if self.settled(key):
                raise Discrepancy(seq, "fill-duplicate", f"{ref} was already settled in an earlier batch")
            self.seen.add(key)
            venue = self.registry.venues.get(f.venue)
            if venue is None:
                raise Discrepancy(seq, "fill-venue", f"{ref}: venue {f.venue!r} is not in the registry")
            mapped = venue.symbols.get(f.symbol)
            if mapped is None or mapped.instrument != p.instrument:
                raise Discrepancy(
                    seq,
                    "fill-symbol",
                    f"{ref}: the registry maps symbol {f.symbol!r} to "
                    f"{mapped.instrument if mapped else None!r}, published as {p.instrument!r}",
                )
            if mapped.since > as_of:
                raise Discrepancy(
                    seq, "fill-symbol", f"{ref}: symbol {f.symbol!r} was mapped at {mapped.since}, after asOf {as_of}"
                )
            for side, address in (("buyer", f.buyer), ("seller", f.seller)):
                if address not in members:
                    raise Discrepancy(seq, "fill-member", f"{ref}: {side} {address} is not an admitted member")
            if f.ts > latest_ms:
                raise Discrepancy(
                    seq,
                    "fill-window",
                    f"{ref}: ts {f.ts} is more than {params.fill_max_ahead_ms} ms after the batch's asOf {as_of}",
                )
            since = self.last_marked.get(p.instrument)
            if since is not None and f.ts < since * 1000 - params.fill_max_age_ms:
                raise Discrepancy(
                    seq,
                    "fill-window",
                    f"{ref}: ts {f.ts} is more than {params.fill_max_age_ms} ms before {since}, the asOf of the "
                    f"last batch that settled {p.instrument}",
                )
            try:
                signer = recover_signer_bytes(f.digest_under(separator), p.signature)
            except InvalidSignature as exc:
                raise Discrepancy(seq, "fill-signature", f"{ref}: venue signature is invalid ({exc})") from exc
            expected = self._key_at(venue.name, f.ts // 1000)
            if signer != expected:
                valid = to_checksum_address(expected) if expected is not None else "no key"
                raise Discrepancy(
                    seq,
                    "fill-signature",
                    f"{ref}: signed by {to_checksum_address(signer)}; venue {f.venue}'s registered key at ts "
                    f"{f.ts} is {valid}",
                )
            terms = self.registry.terms_at(p.instrument, as_of)
            if terms is not None and f.price % terms.tick:
                raise Discrepancy(
                    seq, "fill-tick", f"{ref}: price {f.price} is not a multiple of the tick {terms.tick}"
                )
            self.checked += 1
