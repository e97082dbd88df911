"""The trust anchors come from the chain's registry, never from the operator's file.

- `header-registry` (once, before any batch): the published header is only a cache of the registry; every
  venue it lists is registered with the same kind, every signer it lists is one of the venue's registered
  keys, every symbol maps to the same instrument there, every instrument is registered with the same kind
  and underlying and its current units and fee.
- `terms` (per batch with a context): the units and fee of every instrument in the context are the
  registry's terms in force at the batch's `asOf` (so a batch cannot make VM x100 by its decimals, or
  charge 500 bps against a 1 bps schedule; the fees the transfers check recomputes are the registry's).
- `funding-cap`, `funding-grid` (per funding interval the context applies): |rate| within the registry's
  cap; the interval at or before `asOf`, not before the instrument was registered, and at least one funding
  interval after the last one applied to the instrument (in an earlier batch or earlier in this one): once
  per interval. (The `funding` check, that no interval is applied twice, runs with the previous marks.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.audit.errors import Discrepancy
from offchain.audit.published import Header
from offchain.chain.registry import RegistryState, Terms
from offchain.core.batch import Batch
from offchain.core.context import BatchContext


def check_header(header: Header, registry: RegistryState) -> None:
    def fail(what: str) -> None:
        raise Discrepancy(None, "header-registry", f"{what} (registry {registry.address})")

    for name, v in sorted(header.venues.items()):
        reg = registry.venues.get(name)
        if reg is None:
            fail(f"the header lists venue {name!r}, which is not registered")
            return
        if v.kind != reg.kind:
            fail(f"the header gives venue {name!r} kind {v.kind!r}, the registry {reg.kind!r}")
        keys = {w.key for w in reg.keys}
        for signer in v.signers:
            if signer not in keys:
                fail(f"the header lists {signer} as a key of venue {name!r}, which never registered it")
        for symbol, instrument in sorted(v.symbols.items()):
            mapped = reg.symbols.get(symbol)
            if mapped is None or mapped.instrument != instrument:
                fail(
                    f"the header maps {name}:{symbol} to {instrument!r}, the registry to "
                    f"{mapped.instrument if mapped else None!r}"
                )
    for name, ins in sorted(header.instruments.items()):
        reg_ins = registry.instruments.get(name)
        if reg_ins is None:
            fail(f"the header lists instrument {name!r}, which is not registered")
            return
        current = reg_ins.versions[-1][1]
        got = (ins.kind, ins.underlying, ins.qty_decimals, ins.clearing_fee_bps)
        want = (reg_ins.kind, reg_ins.underlying, current.qty_decimals, current.fee_bps)
        if got != want:
            fail(f"the header gives {name} (kind, underlying, qty_decimals, fee_bps) = {got}, the registry {want}")


@dataclass
class AnchorChecker:
    """Per-batch checks of the context against the registry's terms and funding grid."""

    registry: RegistryState
    last_funding_ms: dict[str, int] = field(default_factory=dict)  # instrument -> last applied interval

    def terms(self, seq: int, as_of: int, instrument: str) -> Terms:
        terms = self.registry.terms_at(instrument, as_of)
        if terms is None:
            raise Discrepancy(seq, "terms", f"{instrument} has no terms in the registry at the batch's asOf {as_of}")
        return terms

    def check(self, batch: Batch, ctx: BatchContext) -> None:
        seq, as_of = batch.sequence, batch.as_of
        for name, t in sorted(ctx.terms.items()):
            reg = self.terms(seq, as_of, name)
            if (t.qty_decimals, t.clearing_fee_bps) != (reg.qty_decimals, reg.fee_bps):
                raise Discrepancy(
                    seq,
                    "terms",
                    f"the context settles {name} with qty_decimals {t.qty_decimals} and a fee of "
                    f"{t.clearing_fee_bps} bps; the registry's terms at asOf are {reg.qty_decimals} and "
                    f"{reg.fee_bps} bps",
                )
        last = dict(self.last_funding_ms)
        for instrument, ts_ms, rate in ctx.funding:
            reg = self.terms(seq, as_of, instrument)
            if abs(rate) > reg.funding_cap_e8:
                raise Discrepancy(
                    seq,
                    "funding-cap",
                    f"funding of {instrument} at {ts_ms}: rate {rate}e-8 of notional, beyond the registry's "
                    f"cap of {reg.funding_cap_e8}e-8 per interval",
                )
            listed = self.registry.instruments[instrument].versions[0][0]
            if ts_ms > as_of * 1000:
                raise Discrepancy(
                    seq, "funding-grid", f"funding of {instrument} at {ts_ms} is after the batch's asOf {as_of}"
                )
            if ts_ms < listed * 1000:
                raise Discrepancy(
                    seq,
                    "funding-grid",
                    f"funding of {instrument} at {ts_ms} is before the instrument was registered ({listed})",
                )
            prev = last.get(instrument)
            if prev is not None and ts_ms == prev:
                raise Discrepancy(seq, "funding", f"funding of {instrument} at {ts_ms} was already applied")
            interval_ms = reg.funding_interval_s * 1000
            if prev is not None and ts_ms < prev + interval_ms:
                raise Discrepancy(
                    seq,
                    "funding-grid",
                    f"funding of {instrument} at {ts_ms} is {ts_ms - prev} ms after the interval at {prev}: "
                    f"less than the registry's funding interval of {reg.funding_interval_s} s (once per interval)",
                )
            last[instrument] = ts_ms
        self.last_funding_ms = last
