"""What the demo records while it runs: one row per tick, one per batch, and the events of the story.

Amounts are in USD (floats, for the report only: the engine and the vault work in integer base units).
The whole record is saved as JSON next to the report (`run.json`), so the report can be rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MemberTick:
    im: float  # posted initial margin (on-chain requirement)
    mm: float
    collateral: float  # haircut collateral value at the batch's marks, less debt (the vault's view)
    debt: float  # liquidity advance outstanding
    im_venue_only: float  # Σ over venues of the IM each venue alone would charge (no cross-venue offsets)
    net_btc: float  # net position across venues, whole units
    net_eth: float


@dataclass
class Tick:
    index: int
    hour: str  # ISO hour of the history
    chain_time: int
    btc: float
    eth: float
    members: dict[str, MemberTick]
    # group -> (net BTC notional, net ETH notional), and the platform's one-sidedness per instrument
    group_net: dict[str, tuple[float, float]]
    platform_one_sided: tuple[float, float]


@dataclass
class BatchRow:
    tick: int
    sequence: int
    fills: int
    transfers: int
    requirements: int
    gas: int
    latency_s: float
    transfers_venue_only: int  # the transfers three separate venue clearings would have made
    batches_venue_only: int  # how many venues had something to settle


@dataclass
class Event:
    tick: int
    hour: str
    kind: str  # deposit, trade, advance, call, cure, default, withdrawal, hook, ...
    member: str
    text: str
    amount: float = 0.0


@dataclass
class RunRecord:
    window: str
    window_note: str
    speed: float
    members: list[dict[str, Any]] = field(default_factory=list)  # name, kind, tier, group, account, address, safe
    ticks: list[Tick] = field(default_factory=list)
    batches: list[BatchRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    fills_accepted: int = 0
    fills_rejected: int = 0
    gas_model: tuple[float, float] = (0.0, 0.0)  # fixed gas per batch, gas per transfer (fitted on this run)
    reconcile_problems: list[str] = field(default_factory=list)
    solvency: list[dict[str, Any]] = field(default_factory=list)  # per asset: symbol, held, owed
    audit: dict[str, Any] = field(default_factory=dict)  # status: passed | failed | pending; detail; output
    defaults: dict[str, Any] = field(default_factory=dict)  # status, detail, waterfall layers when available
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> wall seconds
    # the co-signers' answer to the operator's tampered proposal ("" when they signed it, or none was made)
    tamper_refused: str = ""
    vault: str = ""
    chain_id: int = 0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        raw = json.loads(path.read_text())
        rec = cls(window=raw["window"], window_note=raw["window_note"], speed=raw["speed"])
        for k, v in raw.items():
            if k in ("ticks", "batches", "events"):
                continue
            setattr(rec, k, tuple(v) if k == "gas_model" else v)
        rec.ticks = [
            Tick(
                **{
                    **t,
                    "members": {n: MemberTick(**m) for n, m in t["members"].items()},
                    "group_net": {g: (float(a), float(b)) for g, (a, b) in t["group_net"].items()},
                    "platform_one_sided": tuple(t["platform_one_sided"]),
                }
            )
            for t in raw["ticks"]
        ]
        rec.batches = [BatchRow(**b) for b in raw["batches"]]
        rec.events = [Event(**e) for e in raw["events"]]
        return rec
