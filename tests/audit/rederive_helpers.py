"""Hand-built batches for the re-derivation tampers: built by the engine's own rules and risk model
(offchain/settlement/margin.py, not the auditor's copy), with consistent price evidence, then tampered."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from offchain.audit.published import PublishedFill, fill_json
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.core.accounting import net_transfers
from offchain.core.batch import Batch, Mark, Requirement
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.fills import Fill, fills_domain
from offchain.core.merkle import root_of
from offchain.core.obligations import PendingFill, compute_obligations
from offchain.devnet.bootstrap import risk_margin
from offchain.ledger import schema as t
from offchain.ledger.instruments import load_instruments
from offchain.ledger.positions import load_positions
from offchain.ledger.prices import load_settled_marks
from offchain.settlement.margin import RiskEngineMargin
from tests.audit.conftest import History

Requirements = dict[int, tuple[int, int]]


def evidence_at(price: int, ts_ms: int) -> dict[str, Any]:
    """Index evidence of one fresh source at `price` (what a real source printing that price publishes)."""
    obs = {"source": "hand-feed", "price": str(price), "ts_ms": ts_ms, "signature": None, "signer": None}
    return {"index": str(price), "halt": None, "used": [obs], "rejected": [], "stale": []}


@dataclass
class HandBuilt:
    """What to build: marks moved by `move_marks_bps`, an optional extra fill (`grow`: a member's BTC
    position made `grow` times larger against another member), then the tampers."""

    move_marks_bps: int = 100
    grow: int = 0
    requirements: Callable[[Requirements], Requirements] | None = None  # edits the honest rows
    marks: Callable[[list[Mark]], list[Mark]] | None = None  # collateral rows posted (the honest: none)
    evidence: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # edits the published evidence
    line: Callable[[dict[str, Any]], None] | None = None  # edits the published line last
    approvals: tuple[int, ...] = ()  # withdrawal approval words the batch carries
    built: dict[str, Any] = field(default_factory=dict)


_MARGIN: dict[int, RiskEngineMargin] = {}


def engine_margin(history: History) -> RiskEngineMargin:
    key = id(history)
    if key not in _MARGIN:
        _MARGIN[key] = risk_margin(history.devnet.spec)
    return _MARGIN[key]


def honest_requirements(
    history: History, after: Mapping[tuple[int, str], int], marks: Mapping[str, int]
) -> dict[int, tuple[int, int]]:
    """The engine model's IM/MM of every member whose requirement would change, at positions `after` and
    `marks` (every instrument's mark in force after the batch), holdings and collateral prices on the chain."""
    d = history.devnet
    with d.db.connect() as conn:
        members = [(int(a), str(tier)) for a, tier in conn.execute(select(t.members.c.account, t.members.c.tier))]
        posted = {
            int(m): (int(im), int(mm))
            for m, im, mm in conn.execute(
                select(t.posted_requirements.c.member, t.posted_requirements.c.im, t.posted_requirements.c.mm)
            )
        }
    cprices = {a: p for a, (p, _) in posted_marks(history).items()}
    margin = engine_margin(history)
    assets = [c.asset for c in margin.collateral]
    holdings = {(a, s): d.vault.balance(a, s) for a, _ in members for s in assets}
    computed = margin.requirements(members, dict(after), dict(marks), holdings, cprices)
    return {a: (mg.im, mg.mm) for a, mg in computed.items() if posted.get(a, (0, 0)) != (mg.im, mg.mm)}


def model_record(history: History) -> dict[str, str]:
    calibration = engine_margin(history).calibration
    assert calibration is not None
    return calibration.record()


def evidence_for(marks: Mapping[str, int], ts_ms: int) -> dict[str, Any]:
    return {n: evidence_at(p, ts_ms) for n, p in marks.items()}


def settle_hand_built(history: History, how: HandBuilt) -> tuple[int, Any]:
    """Settle the batch; returns its sequence and the published file with its line appended."""
    d = history.devnet
    batch, line = build_hand_built(history, how)
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[: d.spec.threshold]]
    d.vault.settle(vault_sender(d.vault.w3, d.spec.operator_key), batch, sign_batch(batch, d.vault.domain, signers))
    return batch.sequence, history.tampered(f"hand-{batch.sequence}-{id(how)}", lambda lines: lines.append(line))


def build_hand_built(history: History, how: HandBuilt) -> tuple[Batch, dict[str, Any]]:
    """The next batch (not settled) and its published line."""
    d = history.devnet
    vault = d.vault
    as_of = int(vault.w3.eth.get_block("latest")["timestamp"])
    with d.db.connect() as conn:
        instruments, positions, settled = load_instruments(conn), load_positions(conn), load_settled_marks(conn)
    new_marks = {n: m.price * (10_000 + how.move_marks_bps) // 10_000 for n, m in settled.items()}
    fills, published_fills = _growing_fill(history, how.grow, positions, new_marks, as_of)
    ob = compute_obligations(instruments, positions, settled, new_marks, fills, [])
    after = ob.new_positions(positions)
    honest = honest_requirements(history, after, {**{n: m.price for n, m in settled.items()}, **new_marks})
    rows = how.requirements(dict(honest)) if how.requirements else honest
    cmarks = (
        how.marks([Mark(asset=a, haircut_bps=h, price=p) for a, (p, h) in posted_marks(history).items()])
        if how.marks
        else []
    )
    ctx = BatchContext(
        marks=dict(ob.marks_used),
        previous_marks={n: settled[n].price for n in ob.marks_used if n in settled},
        funding=(),
        terms={n: InstrumentTerms(instruments[n].qty_decimals, instruments[n].clearing_fee_bps) for n in ob.marks_used},
    )
    batch = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=as_of,
        fills_root=root_of([f.leaf for f in fills]),
        transfers=tuple(net_transfers(ob.flows)),
        requirements=tuple(Requirement(account=a, im=im, mm=mm) for a, (im, mm) in sorted(rows.items())),
        marks=tuple(cmarks),
        approved_withdrawals=how.approvals,
        context_hash=ctx.hash(),
    )
    evidence = evidence_for(ob.marks_used, as_of * 1000)
    evidence = how.evidence(evidence) if how.evidence else evidence
    line: dict[str, Any] = {
        "sequence": batch.sequence,
        "context": ctx.canonical().decode(),
        "fills": published_fills,
        "model": model_record(history),
        "price_evidence": evidence,
    }
    if how.line:
        how.line(line)
    how.built.update(honest=honest, after=after, batch=batch)
    return batch, line


def posted_marks(history: History) -> dict[int, tuple[int, int]]:
    with history.devnet.db.connect() as conn:
        c = t.posted_collateral_marks.c
        return {int(a): (int(p), int(h)) for a, p, h in conn.execute(select(c.asset, c.price, c.haircut_bps))}


def _growing_fill(
    history: History, grow: int, positions: dict[tuple[int, str], int], marks: dict[str, int], as_of: int
) -> tuple[list[PendingFill], list[dict[str, Any]]]:
    """A fill of the cex venue that makes the largest BTC holder's position `grow` times larger."""
    if not grow:
        return [], []
    d = history.devnet
    btc = "BTC-USD-PERP"
    holder, qty = max(((m, q) for (m, i), q in positions.items() if i == btc and q), key=lambda x: abs(x[1]))
    by_account = {m.account: m for m in d.spec.members}
    other = next(m for m in d.spec.members if m.account != holder and m.account in {a for a, _ in positions})
    buyer, seller = (by_account[holder], other) if qty > 0 else (other, by_account[holder])
    price = marks[btc] // 10**6 * 10**6  # whole dollars: a multiple of the tick
    fill = Fill(
        venue="cex",
        venue_fill_id=f"grow-{as_of}",
        symbol="BTCUSDT",
        buyer=buyer.address,
        seller=seller.address,
        qty=abs(qty) * (grow - 1),
        price=price,
        ts=as_of * 1000,
    )
    venue = next(v for v in d.spec.venues if v.name == "cex")
    from eth_account import Account

    sig = bytes(Account.unsafe_sign_hash(fill.digest(fills_domain(d.spec.chain_id, d.spec.vault)), venue.key).signature)
    pending = PendingFill(
        0,
        "cex",
        fill.venue_fill_id,
        "BTCUSDT",
        btc,
        buyer.account,
        seller.account,
        buyer.address,
        seller.address,
        fill.qty,
        fill.price,
        fill.ts,
        fill.leaf(),
    )
    return [pending], [fill_json(PublishedFill(fill, btc, sig))]


def dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
