"""Tamper tests: each change to an honest history, made independently, is caught with the right message.

File tampers edit a copy of the published fills file; chain tampers settle a hand-built batch, signed
with the devnet's risk-signer keys, on an Anvil snapshot that is reverted afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account

from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.core.accounting import net_transfers
from offchain.core.batch import Batch, Requirement, Transfer
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.fills import fills_domain
from offchain.core.obligations import compute_obligations
from offchain.ledger.instruments import load_instruments
from offchain.ledger.positions import load_positions
from offchain.ledger.prices import load_settled_marks
from tests.audit.conftest import History
from tests.audit.history import MM
from tests.audit.published_helpers import fill_of, middle_batch_with_fills, resign
from tests.audit.rederive_helpers import evidence_for, honest_requirements, model_record

Lines = list[dict[str, Any]]


# ---------------------------------------------------------------- the published file


def test_altered_fill(history: History) -> None:
    i = middle_batch_with_fills(history.lines())

    def edit(lines: Lines) -> None:
        f = lines[i]["fills"][0]
        f["qty"] = str(int(f["qty"]) + 1)

    history.expect(history.tampered("altered", edit), "fills-root", lines_seq(history, i), "altered, dropped or added")


def test_dropped_fill(history: History) -> None:
    i = middle_batch_with_fills(history.lines())
    path = history.tampered("dropped", lambda lines: lines[i]["fills"].pop(1))
    history.expect(path, "fills-root", lines_seq(history, i))


def test_added_fill_even_validly_signed(history: History) -> None:
    """A fill the venue really signed, slipped into a batch that did not settle it."""
    i = middle_batch_with_fills(history.lines())
    d = history.devnet

    def edit(lines: Lines) -> None:
        extra = dict(lines[i]["fills"][0], venue_fill_id="slipped-in")
        venue = next(v for v in d.spec.venues if v.name == extra["venue"])
        lines[i]["fills"].append(resign(extra, venue.key, fills_domain(d.spec.chain_id, d.spec.vault)))

    history.expect(history.tampered("added", edit), "fills-root", lines_seq(history, i))


def test_changed_mark_in_context(history: History) -> None:
    i = middle_batch_with_fills(history.lines())

    def edit(lines: Lines) -> None:
        ctx = json.loads(lines[i]["context"])
        name = sorted(ctx["marks"])[0]
        ctx["marks"][name] = str(int(ctx["marks"][name]) + 1)
        lines[i]["context"] = json.dumps(ctx, sort_keys=True, separators=(",", ":"))

    history.expect(history.tampered("mark", edit), "context-hash", lines_seq(history, i), "not the one signed")


def test_forged_venue_signature(history: History) -> None:
    """Same fill (so the Merkle root still matches), signed by a key that is not the venue's."""
    i = middle_batch_with_fills(history.lines())
    d = history.devnet
    forger = Account.create()

    def edit(lines: Lines) -> None:
        lines[i]["fills"][0] = resign(lines[i]["fills"][0], forger.key, fills_domain(d.spec.chain_id, d.spec.vault))

    f = fill_of(history.lines()[i]["fills"][0])
    history.expect(
        history.tampered("forged", edit),
        "fill-signature",
        lines_seq(history, i),
        f"fill {f.venue}/{f.venue_fill_id}",
        forger.address,
    )


def test_unpublished_and_unsettled_batches(history: History) -> None:
    n = len(history.lines()) - 1
    history.expect(history.tampered("short", lambda lines: lines.pop()), "published", n, "missing from the fills file")
    extra: dict[str, Any] = {"sequence": n + 1, "context": None, "fills": []}
    history.expect(history.tampered("long", lambda lines: lines.append(extra)), "published", n + 1, "not settled")


# ---------------------------------------------------------------- the chain


def _settle_hand_built(
    history: History,
    move_marks_bps: int = 100,
    shift: int = 0,
    requirements: tuple[Requirement, ...] = (),
    lie_previous: bool = False,
) -> tuple[int, BatchContext]:
    """Settle a batch built by hand with the rule (marks moved by `move_marks_bps`, no fills), then
    tampered: `shift` base units moved from the largest credit to the largest debit (still zero-sum),
    `requirements` posted, or a previous mark misstated. Returns its sequence and context."""
    d = history.devnet
    with d.db.connect() as conn:
        instruments, positions, settled = load_instruments(conn), load_positions(conn), load_settled_marks(conn)
    new_marks = {n: m.price * (10_000 + move_marks_bps) // 10_000 for n, m in settled.items()}
    ob = compute_obligations(instruments, positions, settled, new_marks, [], [])
    transfers = {t.account: t.amount for t in net_transfers(ob.flows)}
    if shift:
        up, down = max(transfers, key=transfers.__getitem__), min(transfers, key=transfers.__getitem__)
        transfers[up] -= shift
        transfers[down] += shift
    previous = {n: settled[n].price for n in ob.marks_used}
    if lie_previous:
        name = sorted(previous)[0]
        previous[name] += 1
    ctx = BatchContext(
        marks=dict(ob.marks_used),
        previous_marks=previous,
        funding=(),
        terms={n: InstrumentTerms(instruments[n].qty_decimals, instruments[n].clearing_fee_bps) for n in ob.marks_used},
    )
    vault = d.vault
    if not requirements:  # the engine model's rows at the moved marks (the verifier re-derives them)
        honest = honest_requirements(history, positions, {**{n: m.price for n, m in settled.items()}, **new_marks})
        requirements = tuple(Requirement(account=a, im=im, mm=mm) for a, (im, mm) in sorted(honest.items()))
    batch = Batch(
        sequence=vault.last_sequence() + 1,
        prev_hash=vault.last_batch_hash(),
        as_of=int(vault.w3.eth.get_block("latest")["timestamp"]),
        transfers=tuple(Transfer(account=a, asset=0, amount=v) for a, v in sorted(transfers.items()) if v),
        requirements=requirements,
        context_hash=ctx.hash(),
    )
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[: d.spec.threshold]]
    vault.settle(vault_sender(vault.w3, d.spec.operator_key), batch, sign_batch(batch, vault.domain, signers))
    return batch.sequence, ctx


def _published_with(history: History, name: str, seq: int, ctx: BatchContext) -> Any:
    ts_ms = int(history.devnet.vault.w3.eth.get_block("latest")["timestamp"]) * 1000
    line = {
        "sequence": seq,
        "context": ctx.canonical().decode(),
        "fills": [],
        "model": model_record(history),
        "price_evidence": evidence_for(ctx.marks, ts_ms),
    }
    return history.tampered(name, lambda lines: lines.append(line))


def test_hand_built_batch_by_the_rule_passes(history: History) -> None:
    """The harness of the chain tampers is honest: by the rule, the same hand-built batch passes."""
    with history.snapshot():
        seq, ctx = _settle_hand_built(history)
        report = history.audit(_published_with(history, "honest", seq, ctx))
        assert report.batches == seq


def test_wrong_variation_margin_that_sums_to_zero(history: History) -> None:
    with history.snapshot():
        seq, ctx = _settle_hand_built(history, shift=1)  # one base unit (1e-6 USDC) moved between members
        history.expect(_published_with(history, "wrong-vm", seq, ctx), "transfers", seq, "the rule gives")


def test_requirement_inconsistent_with_positions(history: History) -> None:
    mm = history.devnet.member(MM).account
    with history.snapshot():
        seq, ctx = _settle_hand_built(history, move_marks_bps=0, requirements=(Requirement(account=mm, im=0, mm=0),))
        history.expect(
            _published_with(history, "req", seq, ctx), "requirements", seq, f"account {mm} holds an open position"
        )


def test_misstated_previous_mark(history: History) -> None:
    """A context that moves the starting point of variation margin is caught even though it is signed."""
    with history.snapshot():
        seq, ctx = _settle_hand_built(history, lie_previous=True)
        history.expect(_published_with(history, "prev", seq, ctx), "previous-mark", seq, "last settled at")


def lines_seq(history: History, i: int) -> int:
    return int(history.lines()[i]["sequence"])
