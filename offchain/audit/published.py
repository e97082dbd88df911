"""The published fills file: what the operator publishes so that anyone can recompute every batch.

JSON lines. The first line is the header; then one line per confirmed batch, in sequence order:

    {"format": "crossclear-fills/1", "venues": {name: {"kind", "signers": [address...],
        "symbols": {venue symbol: instrument}}}, "instruments": [{"name", "kind", "underlying",
        "qty_decimals", "clearing_fee_bps"}...]}
    {"sequence": n, "context": <canonical context JSON string, exactly as hashed> | null,
     "fills": [{"venue", "venue_fill_id", "symbol", "instrument", "buyer", "seller", "qty", "price",
                "ts", "signature"}...],
     "model": {"version", "data_hash", "last_day", "data_end_ms", "ledger_days", "inputs"},
     "price_evidence": {symbol: {"index", "halt", "used", "rejected", "stale"[, "guard"]}},
     "defaults": {"declared": [{"default", "account", "positions": {instrument: qty}, "pool_value",
                                "pool_shares", "penalty_bps"}...],
                  "waterfalls": [{"default", "defaulter", "draws": [{"layer", "account", "asset",
                                  "amount", "value"}...]}...]}}

`defaults` (optional, only on a batch with default actions): the engine's context of its DECLAREs (the
positions the close-out auctions, the pool stored for the assessment caps) and its waterfall plans (the
draws it planned for each COVER and its ASSESS rows, layers 1-5, and the off-chain layer 6); the close-out
fills themselves are ordinary fills of the auction venue.

`model` and `price_evidence` (optional; written when the engine recorded them): the risk model's record
(`inputs` is the canonical JSON the verifier rebuilds the model from, offchain/audit/model.py) and, per
mark and collateral underlying, the observations the index was taken over (offchain/marketdata/index.py).

Fills are in ingest order (the order the engine settled them in). `qty` and `price` are decimal
strings (uint128), `ts` an integer (milliseconds), `signature` the venue's 65-byte signature in 0x-hex.
A batch without a context (`null`) commits to none (its `contextHash` is zero): the devnet's funding of
the system accounts. docs/auditors.md describes the format for people.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from offchain.audit.errors import AuditError
from offchain.core.batch import UINT64_MAX, UINT128_MAX
from offchain.core.fills import Fill

FORMAT = "crossclear-fills/1"


@dataclass(frozen=True)
class PublishedInstrument:
    name: str
    kind: str
    underlying: str
    qty_decimals: int
    clearing_fee_bps: int


@dataclass(frozen=True)
class PublishedVenue:
    name: str
    kind: str
    signers: tuple[str, ...]  # checksummed; every key the venue signed settled fills with
    symbols: dict[str, str]  # venue symbol -> cleared instrument


@dataclass(frozen=True)
class Header:
    venues: dict[str, PublishedVenue]
    instruments: dict[str, PublishedInstrument]


@dataclass(frozen=True)
class PublishedFill:
    fill: Fill
    instrument: str
    signature: bytes


@dataclass(frozen=True)
class PublishedDeclare:
    default_id: int
    account: int
    positions: dict[str, int]  # instrument -> signed quantity at DECLARE
    pool_value: int
    pool_shares: int
    penalty_bps: int


@dataclass(frozen=True)
class PublishedDraw:
    layer: int
    account: int
    asset: int
    amount: int
    value: int

    def row(self) -> tuple[int, int, int, int, int]:
        return (self.layer, self.account, self.asset, self.amount, self.value)


@dataclass(frozen=True)
class PublishedWaterfall:
    default_id: int
    defaulter: int
    draws: tuple[PublishedDraw, ...]  # the plan, in the vault's order (L1-L4, then the ASSESS rows, then L6)


@dataclass(frozen=True)
class PublishedDefaults:
    declared: tuple[PublishedDeclare, ...] = ()
    waterfalls: tuple[PublishedWaterfall, ...] = ()


@dataclass(frozen=True)
class PublishedBatch:
    sequence: int
    context: str | None
    fills: tuple[PublishedFill, ...]
    defaults: PublishedDefaults | None = None
    # the engine's risk-model record (version, data_hash, inputs...) and price evidence (symbol -> index
    # evidence); neither is committed on-chain: the verifier rebuilds and re-derives from them
    model: dict[str, str] | None = None
    price_evidence: dict[str, Any] | None = None


# ---------------------------------------------------------------- writing


def header_json(header: Header) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "venues": {
            v.name: {"kind": v.kind, "signers": list(v.signers), "symbols": dict(sorted(v.symbols.items()))}
            for v in sorted(header.venues.values(), key=lambda v: v.name)
        },
        "instruments": [
            {
                "name": i.name,
                "kind": i.kind,
                "underlying": i.underlying,
                "qty_decimals": i.qty_decimals,
                "clearing_fee_bps": i.clearing_fee_bps,
            }
            for i in sorted(header.instruments.values(), key=lambda i: i.name)
        ],
    }


def fill_json(p: PublishedFill) -> dict[str, Any]:
    f = p.fill
    return {
        "venue": f.venue,
        "venue_fill_id": f.venue_fill_id,
        "symbol": f.symbol,
        "instrument": p.instrument,
        "buyer": f.buyer,
        "seller": f.seller,
        "qty": str(f.qty),
        "price": str(f.price),
        "ts": f.ts,
        "signature": "0x" + p.signature.hex(),
    }


def defaults_json(d: PublishedDefaults) -> dict[str, Any]:
    return {
        "declared": [
            {
                "default": x.default_id,
                "account": x.account,
                "positions": {i: str(q) for i, q in sorted(x.positions.items())},
                "pool_value": str(x.pool_value),
                "pool_shares": str(x.pool_shares),
                "penalty_bps": x.penalty_bps,
            }
            for x in d.declared
        ],
        "waterfalls": [
            {
                "default": w.default_id,
                "defaulter": w.defaulter,
                "draws": [
                    {
                        "layer": r.layer,
                        "account": r.account,
                        "asset": r.asset,
                        "amount": str(r.amount),
                        "value": str(r.value),
                    }
                    for r in w.draws
                ],
            }
            for w in d.waterfalls
        ],
    }


def batch_json(b: PublishedBatch) -> dict[str, Any]:
    out: dict[str, Any] = {"sequence": b.sequence, "context": b.context, "fills": [fill_json(f) for f in b.fills]}
    if b.defaults is not None and (b.defaults.declared or b.defaults.waterfalls):
        out["defaults"] = defaults_json(b.defaults)
    if b.model:
        out["model"] = b.model
    if b.price_evidence:
        out["price_evidence"] = b.price_evidence
    return out


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write(path: Path, header: Header, batches: Iterable[PublishedBatch]) -> int:
    """Write the file (atomically: a temporary file renamed into place); returns the batch count."""
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w") as out:
        out.write(dumps(header_json(header)) + "\n")
        for b in batches:
            out.write(dumps(batch_json(b)) + "\n")
            n += 1
    tmp.replace(path)
    return n


# ---------------------------------------------------------------- reading


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what} must be an integer or a decimal string")
    return int(value)


def parse_header(obj: dict[str, Any]) -> Header:
    if obj.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} header: format={obj.get('format')!r}")
    venues = {
        name: PublishedVenue(
            name=name,
            kind=str(v.get("kind", "")),
            signers=tuple(_checksum(s) for s in v["signers"]),
            symbols={str(k): str(i) for k, i in v["symbols"].items()},
        )
        for name, v in obj["venues"].items()
    }
    instruments = {
        i["name"]: PublishedInstrument(
            name=i["name"],
            kind=str(i.get("kind", "")),
            underlying=str(i.get("underlying", "")),
            qty_decimals=_int(i["qty_decimals"], "qty_decimals"),
            clearing_fee_bps=_int(i["clearing_fee_bps"], "clearing_fee_bps"),
        )
        for i in obj["instruments"]
    }
    return Header(venues, instruments)


@lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    """Checksummed address; cached, as the same members trade again and again (checksumming costs a keccak)."""
    return str(to_checksum_address(address))


def _bounded(value: object, what: str, low: int, high: int) -> int:
    n = _int(value, what)
    if not low <= n <= high:
        raise ValueError(f"{what} {n} is outside [{low}, {high}]")
    return n


def _text(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise ValueError(f"{what} must be a string of 1 to {max_len} characters")
    return value


def parse_fill(obj: dict[str, Any]) -> PublishedFill:
    """A published fill, validated as `Fill` validates (lengths, ranges, addresses) but with cached
    address checksums: the auditor reads every fill of the history."""
    fill = Fill.model_construct(
        venue=_text(obj["venue"], "venue", 64),
        venue_fill_id=_text(obj["venue_fill_id"], "venue_fill_id", 128),
        symbol=_text(obj["symbol"], "symbol", 64),
        buyer=_checksum(_text(obj["buyer"], "buyer", 42)),
        seller=_checksum(_text(obj["seller"], "seller", 42)),
        qty=_bounded(obj["qty"], "qty", 1, UINT128_MAX),
        price=_bounded(obj["price"], "price", 1, UINT128_MAX),
        ts=_bounded(obj["ts"], "ts", 0, UINT64_MAX),
    )
    sig = str(obj["signature"])
    return PublishedFill(fill, str(obj["instrument"]), bytes.fromhex(sig.removeprefix("0x")))


def parse_defaults(obj: dict[str, Any]) -> PublishedDefaults:
    return PublishedDefaults(
        declared=tuple(
            PublishedDeclare(
                default_id=_int(x["default"], "default"),
                account=_int(x["account"], "account"),
                positions={str(i): _int(q, "position") for i, q in x["positions"].items()},
                pool_value=_int(x["pool_value"], "pool_value"),
                pool_shares=_int(x["pool_shares"], "pool_shares"),
                penalty_bps=_int(x["penalty_bps"], "penalty_bps"),
            )
            for x in obj.get("declared", [])
        ),
        waterfalls=tuple(
            PublishedWaterfall(
                default_id=_int(w["default"], "default"),
                defaulter=_int(w["defaulter"], "defaulter"),
                draws=tuple(
                    PublishedDraw(*(_int(r[k], k) for k in ("layer", "account", "asset", "amount", "value")))
                    for r in w["draws"]
                ),
            )
            for w in obj.get("waterfalls", [])
        ),
    )


def parse_batch(obj: dict[str, Any]) -> PublishedBatch:
    context = obj["context"]
    if context is not None and not isinstance(context, str):
        raise ValueError("context must be the canonical JSON string or null")
    defaults = obj.get("defaults")
    model, evidence = obj.get("model"), obj.get("price_evidence")
    if model is not None and not (isinstance(model, dict) and all(isinstance(v, str) for v in model.values())):
        raise ValueError("model must be an object of strings")
    if evidence is not None and not isinstance(evidence, dict):
        raise ValueError("price_evidence must be an object")
    return PublishedBatch(
        sequence=_int(obj["sequence"], "sequence"),
        context=context,
        fills=tuple(parse_fill(f) for f in obj["fills"]),
        defaults=parse_defaults(defaults) if defaults is not None else None,
        model=model,
        price_evidence=evidence,
    )


@dataclass
class PublishedFile:
    """An open fills file: the header, then batches read lazily in file order."""

    path: Path
    header: Header
    _lines: Iterator[tuple[int, str]]

    @classmethod
    def open(cls, path: Path) -> PublishedFile:
        try:
            handle = path.open()
        except OSError as exc:
            raise AuditError(f"cannot open fills file {path}: {exc}") from exc
        lines = enumerate(handle, start=1)
        try:
            _, first = next(lines)
            header = parse_header(json.loads(first))
        except StopIteration:
            raise AuditError(f"{path} is empty: no header line") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"{path}:1: bad header: {exc}") from exc
        return cls(path, header, lines)

    def batches(self) -> Iterator[PublishedBatch]:
        for lineno, line in self._lines:
            if not line.strip():
                continue
            try:
                yield parse_batch(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditError(f"{self.path}:{lineno}: bad batch line: {exc}") from exc
