"""The stored form of a built batch: everything needed to resubmit it byte for byte after a crash, and
to apply it to the ledger once it is on-chain. Integers travel as decimal strings (JSON has no big ints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from offchain.core.accounting import CashFlow
from offchain.core.batch import Batch, decode_batch_words
from offchain.core.obligations import FundingDue


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
    margin_detail: dict[int, dict[str, float]] = field(default_factory=dict)
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
            "margin_detail": {str(a): d for a, d in self.margin_detail.items()},
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
            margin_detail={int(a): d for a, d in data["margin_detail"].items()},
            context=data.get("context", ""),
            price_evidence=dict(data.get("price_evidence", {})),
            model=dict(data.get("model", {})),
        )
