"""Marks and collateral prices re-derived from the published price evidence (`mark-evidence`,
`collateral-evidence`, `collateral-price`).

The index rule (offchain/marketdata/index.py, the default governed `IndexRule`): the median of the fresh
sources after outlier rejection, with a quorum of a strict majority of the known sources. For each symbol
the batch publishes the observations the engine used, those it rejected as outliers and the known stale
ones. The verifier takes the fresh ones (used + rejected), recomputes the median, the sources that agree
within `outlier_bps`, the quorum and the index, and requires:
 - every mark the context settles at is the index of its published evidence (`mark-evidence`);
 - every collateral price a batch posts for a non-cash asset is the index of its risk factor's evidence,
   or, when the engine's guard halted that price, the price already in force (`collateral-evidence`);
 - the settlement asset, and any asset the model gives no risk factor (a stablecoin), is posted at par:
   one whole token is one settlement unit (`collateral-price`).
Who said it (`price-signature`), before the index: an observation that carries a signature must carry the
signer it names, and the signature (EIP-191 over `Observation.digest_text`) must recover to it. The key a
source must sign with comes from the trust anchors, never from the published line (`SourceKeys`):
 - a source **registered on-chain**: the registry has no list of price sources of its own, so a price source
   is registered as a venue of its own name (any kind, e.g. `price-source`; with no symbol mapped it can
   settle no fill), changed only by governance and, for its key, with its own EIP-712 consent: each of its
   observations must be signed by the registry's key of that name **valid at the observation's time**
   (`keyAt`), and an observation dated outside every key window is refused;
 - otherwise a source the verifier was given a key for (`source_keys`: source name -> address, its own
   configuration) must be signed by that key.
What is still trusted: that an observation of a source with neither came from it (docs/auditors.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import AssetMark
from offchain.audit.model import RebuiltModel
from offchain.chain.registry import RegistryState
from offchain.core.batch import SETTLEMENT_ASSET, Batch
from offchain.core.context import BatchContext
from offchain.errors import CrossclearError
from offchain.marketdata.index import IndexRule, median


class EvidenceError(CrossclearError, ValueError):
    pass


class SignatureError(EvidenceError):
    """An observation's signature is missing, malformed or not its source's (`price-signature`)."""


def _observations(ev: Mapping[str, Any], key: str) -> list[tuple[str, int, int]]:
    rows = ev.get(key, [])
    if not isinstance(rows, list):
        raise EvidenceError(f"{key} is not a list")
    try:
        return [(str(o["source"]), int(o["price"]), int(o["ts_ms"])) for o in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(f"malformed observation in {key}: {exc}") from exc


def signer_of(symbol: str, o: Mapping[str, Any]) -> str | None:
    """The address an observation's signature recovers to (lower case), None when it carries none;
    SignatureError when the signature is malformed or does not recover to the signer it names."""
    sig, named = o.get("signature"), o.get("signer")
    if sig is None and named is None:
        return None
    if not isinstance(sig, str) or not isinstance(named, str):
        raise SignatureError(f"{o.get('source')}: a signature and its signer go together (got {sig!r}, {named!r})")
    text = f"crossclear-price:{o.get('source')}:{symbol}:{o.get('price')}:{o.get('ts_ms')}"  # digest_text
    try:
        who = str(Account.recover_message(encode_defunct(text=text), signature=bytes.fromhex(sig.removeprefix("0x"))))
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{o.get('source')}: malformed signature ({exc})") from None
    if who.lower() != named.lower():
        raise SignatureError(f"{o.get('source')}: the signature recovers to {who}, the observation names {named}")
    return who.lower()


@dataclass(frozen=True)
class SourceKeys:
    """The key each price source must sign with: the registry's, for a source registered there under its
    name (a venue entry), at the observation's time; else the one the verifier was given; else none."""

    given: Mapping[str, str] = field(default_factory=dict)
    registry: RegistryState | None = None

    def required(self, source: str, ts_ms: int) -> tuple[str | None, str]:
        """(the address that must have signed, where that comes from); (None, "") when nothing binds the
        source. SignatureError for a registered source with no key valid at `ts_ms`."""
        venue = None if self.registry is None else self.registry.venues.get(source)
        if venue is not None:
            key = venue.key_at(ts_ms // 1000)
            if key is None:
                raise SignatureError(
                    f"{source} at ts {ts_ms}: a registered source with no key valid then "
                    f"(its windows: {[(w.key, w.valid_from, w.valid_until) for w in venue.keys]})"
                )
            return key, "the registry's key of the source then"
        key = self.given.get(source)
        return (key, "the source's key") if key is not None else (None, "")


def source_keys_of(keys: Mapping[str, str] | SourceKeys | None) -> SourceKeys:
    return keys if isinstance(keys, SourceKeys) else SourceKeys(dict(keys or {}))


def check_sources(symbol: str, ev: Mapping[str, Any], source_keys: Mapping[str, str] | SourceKeys) -> None:
    """Every signed observation is signed by the signer it names; every observation of a source bound to a
    key (registered on-chain, or given to the verifier) is signed by that key (SignatureError otherwise)."""
    keys = source_keys_of(source_keys)
    for kind in ("used", "rejected", "stale"):
        rows = ev.get(kind, [])
        for o in rows if isinstance(rows, list) else ():
            if not isinstance(o, Mapping):
                continue  # malformed: `index_of` names it
            who = signer_of(symbol, o)
            try:
                ts_ms = int(o.get("ts_ms"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue  # malformed: `index_of` names it
            key, whose = keys.required(str(o.get("source")), ts_ms)
            if key is not None and who != key.lower():
                raise SignatureError(
                    f"{o.get('source')} at ts {ts_ms} ({kind}): "
                    + ("unsigned" if who is None else f"signed by {who}")
                    + f", {whose} is {key}"
                )


def index_of(
    ev: Mapping[str, Any], rule: IndexRule, symbol: str = "", source_keys: Mapping[str, str] | SourceKeys | None = None
) -> int:
    """The index the evidence of `symbol` gives by the rule (EvidenceError when it gives none or is
    inconsistent; SignatureError, before anything else, when an observation is not its source's)."""
    check_sources(symbol, ev, source_keys_of(source_keys))
    used, rejected, stale = (_observations(ev, k) for k in ("used", "rejected", "stale"))
    known = used + rejected + stale
    if len({s for s, _, _ in known}) != len(known):
        raise EvidenceError("more than one observation per source")
    fresh = used + rejected
    if not fresh:
        raise EvidenceError("no fresh observation")
    if any(p <= 0 for _, p, _ in fresh):
        raise EvidenceError("a non-positive price")
    mid = median([p for _, p, _ in fresh])
    agree = sorted(o for o in fresh if abs(o[1] - mid) * 10_000 <= rule.outlier_bps * mid)
    if agree != sorted(used):
        raise EvidenceError(
            f"the sources within {rule.outlier_bps} bps of the median {mid} are {[s for s, _, _ in agree]}, "
            f"the evidence used {[s for s, _, _ in used]}"
        )
    quorum = max(rule.min_sources, len(known) // 2 + 1)
    if len(agree) < quorum:
        raise EvidenceError(f"{len(agree)} agreeing sources, quorum {quorum} of {len(known)} known")
    index = median([p for _, p, _ in agree])
    if ev.get("index") is not None and str(ev.get("index")) != str(index):
        raise EvidenceError(f"the evidence states index {ev.get('index')}, its observations give {index}")
    return index


def check_marks(
    batch: Batch,
    evidence: Mapping[str, Any],
    ctx: BatchContext,
    rule: IndexRule,
    source_keys: Mapping[str, str] | SourceKeys | None = None,
) -> None:
    seq = batch.sequence
    for name, mark in sorted(ctx.marks.items()):
        ev = evidence.get(name)
        if not isinstance(ev, dict):
            raise Discrepancy(seq, "mark-evidence", f"{name} is settled at {mark} with no published price evidence")
        try:
            index = index_of(ev, rule, name, source_keys)
        except SignatureError as exc:
            raise Discrepancy(seq, "price-signature", f"{name} settled at {mark}: {exc}") from exc
        except EvidenceError as exc:
            raise Discrepancy(seq, "mark-evidence", f"{name} settled at {mark}: {exc}") from exc
        if index != mark:
            raise Discrepancy(
                seq, "mark-evidence", f"{name} is settled at {mark}, the index of its published observations is {index}"
            )


def check_collateral(
    batch: Batch,
    evidence: Mapping[str, Any],
    rebuilt: RebuiltModel,
    before: Mapping[int, AssetMark],
    rule: IndexRule,
    settlement_decimals: int = 6,
    source_keys: Mapping[str, str] | SourceKeys | None = None,
) -> None:
    """Collateral rows of the batch; `before`: the marks in force before it (a halted price keeps its own)."""
    seq, par = batch.sequence, 10**settlement_decimals
    factors = {c.asset: c.factor for c in rebuilt.inputs.collateral}
    for m in batch.marks:
        old = before.get(m.asset)
        factor = factors.get(m.asset)
        if m.asset == SETTLEMENT_ASSET or (m.asset in factors and factor is None):
            if m.price != par:
                raise Discrepancy(
                    seq,
                    "collateral-price",
                    f"asset {m.asset} moves with no risk factor but is posted at {m.price}, not {par}",
                )
            continue
        ev = evidence.get(factor) if factor is not None else None
        if not isinstance(ev, dict):
            raise Discrepancy(
                seq, "collateral-evidence", f"asset {m.asset} is posted at {m.price} with no evidence for {factor}"
            )
        if ev.get("guard") is not None:
            if old is None or m.price != old.price:
                raise Discrepancy(
                    seq,
                    "collateral-evidence",
                    f"asset {m.asset}: {factor}'s price is halted ({ev.get('guard')}), yet it is posted at {m.price}, "
                    f"not the {None if old is None else old.price} in force",
                )
            continue
        try:
            index = index_of(ev, rule, str(factor), source_keys)
        except SignatureError as exc:
            raise Discrepancy(seq, "price-signature", f"asset {m.asset} ({factor}): {exc}") from exc
        except EvidenceError as exc:
            raise Discrepancy(seq, "collateral-evidence", f"asset {m.asset} ({factor}): {exc}") from exc
        if index != m.price:
            raise Discrepancy(
                seq,
                "collateral-evidence",
                f"asset {m.asset} is posted at {m.price}, the index of {factor}'s published observations is {index}",
            )
