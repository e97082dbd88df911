"""A batch's published context: what its variation margin, funding and fees were computed from.

The batch commits to it by `contextHash` = keccak256 of its canonical JSON (sorted keys, no spaces,
integers as decimal strings), so an auditor who recomputes the batch from the published fills and this
context knows the operator cannot swap the marks afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eth_utils import keccak


@dataclass(frozen=True)
class InstrumentTerms:
    qty_decimals: int
    clearing_fee_bps: int


@dataclass(frozen=True)
class BatchContext:
    marks: dict[str, int]  # instrument -> mark the batch settles at (settlement base units per unit)
    previous_marks: dict[str, int]  # instrument -> mark it was last settled at (absent: never)
    funding: tuple[tuple[str, int, int], ...]  # (instrument, ts_ms, rate_e8) applied
    terms: dict[str, InstrumentTerms]  # instrument -> units and fee of every instrument involved

    def canonical(self) -> bytes:
        body = {
            "marks": {k: str(v) for k, v in sorted(self.marks.items())},
            "previous_marks": {k: str(v) for k, v in sorted(self.previous_marks.items())},
            "funding": [[i, str(ts), str(r)] for i, ts, r in self.funding],
            "terms": {
                k: {"qty_decimals": v.qty_decimals, "clearing_fee_bps": v.clearing_fee_bps}
                for k, v in sorted(self.terms.items())
            },
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def hash(self) -> bytes:
        return keccak(self.canonical())

    @classmethod
    def from_canonical(cls, data: bytes) -> BatchContext:
        body = json.loads(data)
        return cls(
            marks={k: int(v) for k, v in body["marks"].items()},
            previous_marks={k: int(v) for k, v in body["previous_marks"].items()},
            funding=tuple((i, int(ts), int(r)) for i, ts, r in body["funding"]),
            terms={k: InstrumentTerms(v["qty_decimals"], v["clearing_fee_bps"]) for k, v in body["terms"].items()},
        )
