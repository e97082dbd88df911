"""Chain tampers as a hostile operator makes them: it holds the risk signers' keys and writes the published
file, and it computes every batch *consistently with its own lie* (transfers by the rule from the fills,
terms and funding it invents), so only a check against the chain's trust anchors can catch it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_account import Account

from offchain.audit.published import PublishedFill, fill_json
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.core.accounting import net_transfers
from offchain.core.batch import DEFAULT_BATCH_TTL_S, Batch, MarginCall, Requirement, Transfer
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.fills import Fill, fills_domain
from offchain.core.merkle import root_of
from offchain.core.obligations import FundingDue, PendingFill, compute_obligations
from offchain.ledger.instruments import load_instruments
from offchain.ledger.positions import load_positions
from offchain.ledger.prices import load_settled_marks
from tests.audit.conftest import History
from tests.audit.rederive_helpers import evidence_for, honest_requirements, model_record


@dataclass
class Tamper:
    """What the operator invents for one batch."""

    fills: Sequence[PublishedFill] = ()
    funding: Sequence[tuple[str, int, int]] = ()  # (instrument, ts_ms, rate_e8)
    terms: Mapping[str, InstrumentTerms] = field(default_factory=dict)  # overrides of the ledger's terms
    move_marks_bps: int = 0
    transfers: Sequence[Transfer] | None = None  # instead of the rule's (a batch without a context)
    context: bool = True
    as_of: int | None = None  # default: the latest block's time
    margin_calls: Sequence[MarginCall] = ()
    requirements: Sequence[Requirement] = ()


def signed_fill(history: History, venue_key: Any, instrument: str, fill: Fill) -> PublishedFill:
    d = history.devnet
    sig = bytes(Account.unsafe_sign_hash(fill.digest(fills_domain(d.spec.chain_id, d.spec.vault)), venue_key).signature)
    return PublishedFill(fill, instrument, sig)


def settle_tampered(history: History, t: Tamper) -> dict[str, Any]:
    """Settle the batch on the chain, signed by the risk signers; returns its published line."""
    d = history.devnet
    vault = d.vault
    latest = int(vault.w3.eth.get_block("latest")["timestamp"])
    as_of = t.as_of if t.as_of is not None else latest
    ctx: BatchContext | None = None
    requirements = tuple(t.requirements)
    if t.context:
        with d.db.connect() as conn:
            instruments, positions, settled = load_instruments(conn), load_positions(conn), load_settled_marks(conn)
        specs = {
            n: replace(s, qty_decimals=t.terms[n].qty_decimals, clearing_fee_bps=t.terms[n].clearing_fee_bps)
            if n in t.terms
            else s
            for n, s in instruments.items()
        }
        accounts = {m.address: m.account for m in d.spec.members} | {
            str(Account.from_key(d.spec.operator_key).address): d.spec.house_account
        }
        pending = [
            PendingFill(
                id=i,
                venue=p.fill.venue,
                venue_fill_id=p.fill.venue_fill_id,
                symbol=p.fill.symbol,
                instrument=p.instrument,
                buyer=accounts[p.fill.buyer],
                seller=accounts[p.fill.seller],
                buyer_address=p.fill.buyer,
                seller_address=p.fill.seller,
                qty=p.fill.qty,
                price=p.fill.price,
                ts_ms=p.fill.ts,
                leaf=b"",
            )
            for i, p in enumerate(t.fills)
        ]
        marks = {n: m.price * (10_000 + t.move_marks_bps) // 10_000 for n, m in settled.items()}
        funding = [FundingDue(*f) for f in t.funding]
        ob = compute_obligations(specs, positions, settled, marks, pending, funding)
        transfers = tuple(net_transfers(ob.flows))
        if not t.requirements:  # the engine model's rows at the new positions and marks (honest, for the verifier)
            honest = honest_requirements(history, ob.new_positions(positions), marks)
            requirements = tuple(Requirement(account=a, im=im, mm=mm) for a, (im, mm) in sorted(honest.items()))
        involved = set(ob.marks_used) | {p.instrument for p in t.fills} | {f[0] for f in t.funding}
        ctx = BatchContext(
            marks=dict(ob.marks_used),
            previous_marks={n: settled[n].price for n in ob.marks_used if n in settled},
            funding=tuple(t.funding),
            terms={n: InstrumentTerms(specs[n].qty_decimals, specs[n].clearing_fee_bps) for n in involved},
        )
    else:
        transfers = tuple(t.transfers or ())
    batch = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=as_of,
        valid_until=max(as_of, latest) + DEFAULT_BATCH_TTL_S,  # a back-dated batch still lands (the engine's rule)
        fills_root=root_of([p.fill.leaf() for p in t.fills]),
        transfers=transfers,
        requirements=requirements,
        margin_calls=tuple(t.margin_calls),
        context_hash=ctx.hash() if ctx is not None else b"\x00" * 32,
    )
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[: d.spec.threshold]]
    vault.settle(vault_sender(vault.w3, d.spec.operator_key), batch, sign_batch(batch, vault.domain, signers))
    line: dict[str, Any] = {
        "sequence": batch.sequence,
        "context": ctx.canonical().decode() if ctx is not None else None,
        "fills": [fill_json(p) for p in t.fills],
    }
    if ctx is not None:  # what the engine publishes with a batch: its model record and price evidence
        line["model"] = model_record(history)
        line["price_evidence"] = evidence_for(ctx.marks, as_of * 1000)
    return line
