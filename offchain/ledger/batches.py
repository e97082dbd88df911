"""Batches in the ledger: the stored form of a built batch (`BatchPayload`, everything needed to resubmit it
byte for byte after a crash and to apply it once it is on-chain), and its life: built (with its claim on
fills and funding intervals) -> sent -> confirmed (applied to the settled state), or dropped unsent.

Integers travel in the payload as decimal strings (JSON has no big ints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from offchain.core.accounting import CashFlow
from offchain.core.batch import Batch, decode_batch_words
from offchain.core.eip712 import Domain
from offchain.core.obligations import FundingDue
from offchain.ledger import schema as t
from offchain.ledger.defaults import forget_undo, undo_writes
from offchain.ledger.entries import apply_batch_fills
from offchain.ledger.positions import apply_position_changes

BUILT, SENT, CONFIRMED = "built", "sent", "confirmed"


@dataclass(frozen=True)
class MarginDetail:
    """One member's margin at a batch, as the risk model computed it (informational: the API shows it)."""

    es_core: float
    concentration_addon: float
    liquidity_addon: float
    collateral_value: int  # haircut value, base units (stored as a JSON number, as before)
    haircut_bps: dict[int, int] = field(default_factory=dict)  # asset -> the model's haircut for this holding
    # The rise cap's record (offchain/risk/risecap.py), base units: the model's IM before the cap and the stressed
    # floor under it. None in payloads from before the cap; the floor is the next day's reference.
    model_im: int | None = None
    stress_floor: int | None = None

    def to_json(self) -> dict[str, float]:
        extra = {
            k: float(v) for k, v in (("model_im", self.model_im), ("stress_floor", self.stress_floor)) if v is not None
        }
        return {
            "es_core": self.es_core,
            "concentration_addon": self.concentration_addon,
            "liquidity_addon": self.liquidity_addon,
            "collateral_value": float(self.collateral_value),
            **{f"haircut_bps.{asset}": float(bps) for asset, bps in self.haircut_bps.items()},
            **extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, float]) -> MarginDetail:
        prefix = "haircut_bps."
        return cls(
            es_core=float(data["es_core"]),
            concentration_addon=float(data["concentration_addon"]),
            liquidity_addon=float(data["liquidity_addon"]),
            collateral_value=int(data["collateral_value"]),
            haircut_bps={int(k[len(prefix) :]): int(v) for k, v in data.items() if k.startswith(prefix)},
            model_im=None if "model_im" not in data else int(data["model_im"]),
            stress_floor=None if "stress_floor" not in data else int(data["stress_floor"]),
        )


@dataclass
class BatchPayload:
    batch: Batch
    fill_ids: list[int]
    flows: list[CashFlow]
    marks_used: dict[str, int]
    mark_ts: dict[str, int]
    funding: list[FundingDue]
    position_changes: dict[tuple[int, str, str], int]
    requirements: dict[int, tuple[int, int]]  # every member's IM/MM at this batch
    collateral_marks: dict[int, tuple[int, int]]  # asset -> (price, haircut bps) posted in this batch
    margin_detail: dict[int, MarginDetail] = field(default_factory=dict)
    context: str = ""  # the canonical JSON the batch's contextHash commits to (offchain/core/context.py)
    # symbol -> the index evidence (observations used, rejected, stale) of each mark and collateral price
    price_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)  # risk model version, calibration data hash, data end

    def to_json(self) -> dict[str, Any]:
        b = self.batch
        words = b.words()
        default_words = b.default_words()
        return {
            "batch": {
                "sequence": b.sequence,
                "prev_hash": b.prev_hash.hex(),
                "as_of": b.as_of,
                "fills_root": b.fills_root.hex(),
                "transfers": [w.hex() for w in words[0]],
                "requirements": [w.hex() for w in words[1]],
                "marks": [w.hex() for w in words[2]],
                "approved_withdrawals": [str(x) for x in b.approved_withdrawals],
                "context_hash": b.context_hash.hex(),
                "contributions": [w.hex() for w in default_words[0]],
                "margin_calls": [w.hex() for w in default_words[1]],
                "default_actions": [w.hex() for w in default_words[2]],
                "valid_until": b.valid_until,
            },
            "fill_ids": self.fill_ids,
            "flows": [[f.account, f.instrument, f.kind, str(f.amount)] for f in self.flows],
            "marks_used": {k: str(v) for k, v in self.marks_used.items()},
            "mark_ts": self.mark_ts,
            "funding": [[d.instrument, d.ts_ms, d.rate_e8] for d in self.funding],
            "position_changes": [[m, i, v, str(q)] for (m, i, v), q in sorted(self.position_changes.items())],
            "requirements": {str(a): [str(im), str(mm)] for a, (im, mm) in self.requirements.items()},
            "collateral_marks": {str(a): [str(p), h] for a, (p, h) in self.collateral_marks.items()},
            "margin_detail": {str(a): d.to_json() for a, d in self.margin_detail.items()},
            "context": self.context,
            "price_evidence": self.price_evidence,
            "model": self.model,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchPayload:
        b = data["batch"]
        batch = decode_batch_words(
            b["sequence"],
            bytes.fromhex(b["prev_hash"]),
            b["as_of"],
            bytes.fromhex(b["fills_root"]),
            [bytes.fromhex(w) for w in b["transfers"]],
            [bytes.fromhex(w) for w in b["requirements"]],
            [bytes.fromhex(w) for w in b["marks"]],
            [int(x) for x in b["approved_withdrawals"]],
            bytes.fromhex(b["context_hash"]),
            [bytes.fromhex(w) for w in b.get("contributions", [])],
            [bytes.fromhex(w) for w in b.get("margin_calls", [])],
            [bytes.fromhex(w) for w in b.get("default_actions", [])],
            int(b.get("valid_until", -1)),
        )
        return cls(
            batch=batch,
            fill_ids=list(data["fill_ids"]),
            flows=[CashFlow(a, i, k, int(v)) for a, i, k, v in data["flows"]],
            marks_used={k: int(v) for k, v in data["marks_used"].items()},
            mark_ts={k: int(v) for k, v in data["mark_ts"].items()},
            funding=[FundingDue(i, ts, r) for i, ts, r in data["funding"]],
            position_changes={(m, i, v): int(q) for m, i, v, q in data["position_changes"]},
            requirements={int(a): (int(im), int(mm)) for a, (im, mm) in data["requirements"].items()},
            collateral_marks={int(a): (int(p), int(h)) for a, (p, h) in data["collateral_marks"].items()},
            margin_detail={int(a): MarginDetail.from_json(d) for a, d in data["margin_detail"].items()},
            context=data.get("context", ""),
            price_evidence=dict(data.get("price_evidence", {})),
            model=dict(data.get("model", {})),
        )


@dataclass(frozen=True)
class StoredBatch:
    sequence: int
    status: str  # BUILT, SENT or CONFIRMED
    digest: bytes
    tx_hash: bytes | None  # the signed transaction's hash, once sent
    payload: BatchPayload


# ---------------------------------------------------------------- built: stored with its claim


def store_built(conn: Connection, payload: BatchPayload, domain: Domain, built_ms: int) -> None:
    """Store a batch as `built`: from here on, a restart resubmits exactly this batch."""
    b = payload.batch
    conn.execute(
        insert(t.batches).values(
            sequence=b.sequence,
            status=BUILT,
            prev_hash=b.prev_hash,
            digest=b.digest(domain),
            as_of_ms=b.as_of * 1000,
            payload=payload.to_json(),
            built_ms=built_ms,
        )
    )


def claim_inputs(conn: Connection, sequence: int, fill_ids: Sequence[int], funding: Sequence[FundingDue]) -> None:
    """Take the batch's fills and funding intervals (in the transaction that stores it): no other batch
    settles them, unless this one is dropped unsent (`drop_unsent`)."""
    fr = t.funding_rates
    if fill_ids:
        conn.execute(update(t.fills).where(t.fills.c.id.in_(list(fill_ids))).values(batch_sequence=sequence))
    for due in funding:
        conn.execute(
            update(fr).where(fr.c.instrument == due.instrument, fr.c.ts_ms == due.ts_ms).values(batch_sequence=sequence)
        )


# ---------------------------------------------------------------- sent, or dropped unsent


def mark_sent(conn: Connection, sequence: int, tx_hash: bytes) -> None:
    conn.execute(update(t.batches).where(t.batches.c.sequence == sequence).values(status=SENT, tx_hash=tx_hash))


def sent_tx(conn: Connection, sequence: int) -> bytes | None:
    """The hash of the transaction a stored batch was sent in (None: never sent)."""
    tx = conn.execute(select(t.batches.c.tx_hash).where(t.batches.c.sequence == sequence)).scalar_one()
    return None if tx is None else bytes(tx)


def drop_unsent(conn: Connection, sequence: int) -> None:
    """Delete a batch that was never sent, release its fills and funding intervals for the next one, and take
    back its default-management writes (margin calls, statuses, DECLARE, COVER, CLOSE, contributions): the
    rebuilt batch must propose them again (offchain/ledger/defaults.py)."""
    undo_writes(conn, sequence)
    conn.execute(update(t.fills).where(t.fills.c.batch_sequence == sequence).values(batch_sequence=None))
    conn.execute(
        update(t.funding_rates).where(t.funding_rates.c.batch_sequence == sequence).values(batch_sequence=None)
    )
    conn.execute(t.batches.delete().where(t.batches.c.sequence == sequence))


# ---------------------------------------------------------------- reads


def unconfirmed(conn: Connection) -> list[StoredBatch]:
    """Batches stored but not confirmed, by sequence (the engine allows at most one)."""
    b = t.batches
    rows = conn.execute(
        select(b.c.sequence, b.c.status, b.c.digest, b.c.tx_hash, b.c.payload)
        .where(b.c.status != CONFIRMED)
        .order_by(b.c.sequence)
    ).all()
    return [
        StoredBatch(int(seq), status, bytes(digest), bytes(tx) if tx else None, BatchPayload.from_json(payload))
        for seq, status, digest, tx, payload in rows
    ]


def last_confirmed(conn: Connection) -> int:
    """The sequence of the latest confirmed batch (0 before any)."""
    seq = conn.execute(
        select(t.batches.c.sequence)
        .where(t.batches.c.status == CONFIRMED)
        .order_by(t.batches.c.sequence.desc())
        .limit(1)
    ).scalar_one_or_none()
    return int(seq or 0)


def posted_requirements(conn: Connection) -> dict[int, tuple[int, int]]:
    """member -> (IM, MM) as the vault holds them (the last batch that posted each)."""
    pr = t.posted_requirements
    return {m: (im, mm) for m, im, mm in conn.execute(select(pr.c.member, pr.c.im, pr.c.mm))}


def posted_collateral_marks(conn: Connection) -> dict[int, tuple[int, int]]:
    """asset -> (price, haircut bps) as the vault holds them (the last batch that posted each)."""
    pm = t.posted_collateral_marks
    return {a: (p, h) for a, p, h in conn.execute(select(pm.c.asset, pm.c.price, pm.c.haircut_bps))}


# ---------------------------------------------------------------- confirmed: applied once


def _upsert(conn: Connection, table: Table, key: dict[str, object], values: dict[str, object]) -> None:
    cond = [table.c[k] == v for k, v in key.items()]
    if conn.execute(select(table).where(*cond)).first() is None:
        conn.execute(insert(table).values(**key, **values))
    else:
        conn.execute(update(table).where(*cond).values(**values))


def apply_confirmed(
    conn: Connection, payload: BatchPayload, tx_hash: bytes, block_number: int, gas_used: int | None, now_ms: int
) -> None:
    """Mark the batch confirmed and move the settled state forward by it.

    Refuses to run twice for one batch (the status check), so a crash between confirming and
    recording can only ever leave the batch unapplied, never applied twice.
    """
    seq = payload.batch.sequence
    status = conn.execute(select(t.batches.c.status).where(t.batches.c.sequence == seq)).scalar_one()
    if status == CONFIRMED:
        raise RuntimeError(f"batch {seq} is already applied to the ledger")
    conn.execute(
        update(t.batches)
        .where(t.batches.c.sequence == seq)
        .values(status=CONFIRMED, tx_hash=tx_hash, block_number=block_number, gas_used=gas_used, confirmed_ms=now_ms)
    )
    forget_undo(conn, seq)  # its default writes are final
    apply_position_changes(conn, payload.position_changes)
    apply_batch_fills(conn, payload.fill_ids, seq)
    for instrument, price in payload.marks_used.items():
        _upsert(
            conn,
            t.settled_marks,
            {"instrument": instrument},
            {"price": price, "ts_ms": payload.mark_ts.get(instrument, now_ms), "batch_sequence": seq},
        )
    if payload.flows:
        conn.execute(
            insert(t.cash_flows),
            [
                {
                    "batch_sequence": seq,
                    "account": f.account,
                    "instrument": f.instrument,
                    "kind": f.kind,
                    "amount": f.amount,
                }
                for f in payload.flows
            ],
        )
    for r in payload.batch.requirements:
        _upsert(conn, t.posted_requirements, {"member": r.account}, {"im": r.im, "mm": r.mm, "batch_sequence": seq})
    for m in payload.batch.marks:
        _upsert(
            conn,
            t.posted_collateral_marks,
            {"asset": m.asset},
            {"price": m.price, "haircut_bps": m.haircut_bps, "batch_sequence": seq},
        )


def record_batch(
    conn: Connection, payload: BatchPayload, domain: Domain, tx_hash: bytes, block_number: int, gas_used: int | None
) -> None:
    """Record a batch that was settled outside the engine loop (the devnet's funding of the system
    accounts) so that the ledger follows the chain from its first batch."""
    store_built(conn, payload, domain, payload.batch.as_of * 1000)
    apply_confirmed(conn, payload, tx_hash, block_number, gas_used, payload.batch.as_of * 1000)
