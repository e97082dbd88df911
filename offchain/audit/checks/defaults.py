"""Were the batch's default actions the rules'? Checked after the replay applied its default rows
(events/replay.py), from the auditor's own state only.

In order, the first failure reported:
 - `default-events`, `waterfall`: the contribution, margin-call, DECLARE/CLOSE and WaterfallDraw events the
   vault emitted are exactly the ones the rules give; a COVER's draws are recomputed with the core waterfall
   rule (`offchain.core.waterfall.plan_waterfall`) from the replayed state just before it. A difference
   names the layer: a later layer drawn while an earlier one still had funds, a layer drawn beyond what it
   held, draws covering more than the COVER;
 - `waterfall` (external exposure): every COVER is covered exactly by layers 1-5, inside the vault (the
   debt falls by Σ draws = the COVER amount; no outside money);
 - `cover`: a COVER only once the defaulter is flat (the close-out finished: the auditor's own positions);
 - `assessments`: the ASSESS rows of a COVER are the pro-rata split of what layers 1-4 left, by each
   survivor's contribution at the DECLARE, each within its cap (ASSESSMENT_CAP_MULTIPLE × that
   contribution, less what it was already assessed for this default) and its cash (the core rule's
   `pro_rata`, largest remainders);
 - `declare`: a DECLARE only on a member with an uncured margin call on-chain whose deadline has passed;
 - `default-published`: each DECLARE is published with the positions the auditor holds for the member
   after the batch and the pool the vault stored; nothing else is published as declared;
 - `waterfall-plan`: each COVER's published plan (layers 1-5) is exactly what the vault drew; no plan
   with on-chain layers is published for a batch without that COVER.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import CoverRecord, DefaultRecordTuple, VaultReplay
from offchain.audit.published import PublishedBatch, PublishedDefaults
from offchain.core.batch import DECLARE, Batch
from offchain.core.waterfall import Layer, layer_capacity

ON_CHAIN_LAYERS = frozenset(
    int(x)
    for x in (Layer.COLLATERAL, Layer.OWN_CONTRIBUTION, Layer.OPERATOR_CAPITAL, Layer.SURVIVORS_FUND, Layer.ASSESSMENT)
)

Row = tuple[int, int, int, int, int]  # (layer, account, asset, amount, value)


def check_default_actions(
    batch: Batch,
    published: PublishedBatch,
    replay: VaultReplay,
    positions: Mapping[tuple[int, str], int],
    emitted: Sequence[DefaultRecordTuple],
    observed: Sequence[DefaultRecordTuple],
) -> None:
    seq = batch.sequence
    _events(seq, replay.covers, list(emitted), list(observed))
    for cover in replay.covers:
        _external(seq, cover)
        _flat(seq, cover, positions)
        _assessments(seq, cover)
    _declared(seq, batch, replay)
    _published(seq, batch, published.defaults or PublishedDefaults(), replay, positions)


def _draws(events: Sequence[DefaultRecordTuple]) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = defaultdict(list)
    for e in events:
        if e[0] == "draw":
            defaulter, layer, account, asset, amount, value = (int(x) for x in e[1:])
            out[defaulter].append((layer, account, asset, amount, value))
    return out


def _events(
    seq: int, covers: Sequence[CoverRecord], emitted: list[DefaultRecordTuple], observed: list[DefaultRecordTuple]
) -> None:
    if emitted == observed:
        return
    mine, theirs = _draws(emitted), _draws(observed)
    for cover in covers:
        got = theirs.get(cover.defaulter, [])
        if got != mine.get(cover.defaulter, []):
            raise Discrepancy(seq, "waterfall", _diagnose(cover, got))
    extra = sorted(set(theirs) - set(mine))
    if extra:
        raise Discrepancy(
            seq, "waterfall", f"the vault drew the waterfall for account {extra[0]}, which no COVER covers"
        )
    raise Discrepancy(
        seq, "default-events", f"the rules give the default-fund events {emitted}, the vault emitted {observed}"
    )


def _layer_totals(rows: Sequence[Row]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for layer, _, _, _, value in rows:
        out[layer] += value
    return dict(out)


def _split(rows: Sequence[Row]) -> str:
    totals = _layer_totals(rows)
    return ", ".join(f"L{k} {v}" for k, v in sorted(totals.items())) or "nothing"


def _diagnose(cover: CoverRecord, got: Sequence[Row]) -> str:
    """Why the vault's draws for a COVER are not the rule's: the first layer out of order or over-drawn."""
    want = cover.drawn
    head = (
        f"COVER of {cover.amount} for account {cover.defaulter}: the vault drew {_split(got)}, the waterfall rule from "
        f"the auditor's state gives {_split(want)}"
    )
    capacity = {int(k): v for k, v in layer_capacity(cover.state).items()}
    totals = _layer_totals(got)
    if sum(totals.values()) > cover.amount:
        return f"{head} (over-draw: the draws cover {sum(totals.values())} of a COVER of {cover.amount})"
    for layer, value in sorted(totals.items()):
        if layer in capacity and value > capacity[layer]:
            return f"{head} (over-draw: layer {layer} gave {value}, it held {capacity[layer]})"
        earlier = [k for k in sorted(capacity) if k < layer and totals.get(k, 0) < capacity[k]]
        if earlier and layer != int(Layer.ASSESSMENT):
            k = earlier[0]
            return f"{head} (layer {layer} drawn while layer {k} still held {capacity[k] - totals.get(k, 0)})"
    return head


def _external(seq: int, cover: CoverRecord) -> None:
    covered = sum(r[4] for r in cover.drawn)
    if covered != cover.amount or cover.plan.external:
        raise Discrepancy(
            seq,
            "waterfall",
            f"COVER of {cover.amount} for account {cover.defaulter}: layers 1-5 cover {covered}; external exposure "
            f"{cover.amount - covered + cover.plan.external} (must be 0)",
        )


def _flat(seq: int, cover: CoverRecord, positions: Mapping[tuple[int, str], int]) -> None:
    held = {i: q for (a, i), q in sorted(positions.items()) if a == cover.defaulter and q}
    if held:
        raise Discrepancy(
            seq,
            "cover",
            f"COVER of account {cover.defaulter} while it still holds {held}: the close-out is not finished",
        )


def _assessments(seq: int, cover: CoverRecord) -> None:
    got: dict[int, int] = defaultdict(int)
    for account, amount in cover.assessed:
        got[account] += amount
    want = {d.account: d.amount for d in cover.plan.assessments}
    if dict(got) == want:
        return
    pool = cover.state.pool_at_declare
    weights = {s.account: pool.value_of(s.shares) for s in cover.state.survivors}
    for account in sorted(set(got) | set(want)):
        if got.get(account, 0) != want.get(account, 0):
            break
    left = sum(amount for _, amount in cover.assessed)
    if not weights.get(account, 0) and got.get(account, 0):
        why = f"account {account} was assessed {got[account]} but had no contribution at the DECLARE"
    else:
        why = (
            f"account {account} was assessed {got.get(account, 0)}, its pro-rata share is {want.get(account, 0)} "
            f"(contribution at DECLARE {weights.get(account, 0)} of {sum(weights.values())})"
        )
    raise Discrepancy(
        seq,
        "assessments",
        f"the ASSESS rows for the default of account {cover.defaulter} are not pro rata to the contributions at "
        f"DECLARE: {why}; the {left} layers 1-4 left splits as {dict(sorted(want.items()))}, the batch assessed "
        f"{dict(sorted(got.items()))}",
    )


def _declared(seq: int, batch: Batch, replay: VaultReplay) -> None:
    for a in batch.default_actions:
        if a.action != DECLARE:
            continue
        amount, deadline = replay.margin_calls.get(a.account, (0, 0))
        if amount == 0:
            raise Discrepancy(seq, "declare", f"DECLARE of account {a.account}, which has no margin call outstanding")
        if deadline > batch.as_of:
            raise Discrepancy(
                seq,
                "declare",
                f"DECLARE of account {a.account} at {batch.as_of}, before its margin call's deadline {deadline}",
            )


def _published(
    seq: int,
    batch: Batch,
    published: PublishedDefaults,
    replay: VaultReplay,
    positions: Mapping[tuple[int, str], int],
) -> None:
    declared = [a.account for a in batch.default_actions if a.action == DECLARE]
    shown = {x.account: x for x in published.declared}
    for account in declared:
        x = shown.pop(account, None)
        if x is None:
            raise Discrepancy(seq, "default-published", f"the DECLARE of account {account} is not published")
        held = {i: q for (a, i), q in sorted(positions.items()) if a == account and q}
        if x.positions != held:
            raise Discrepancy(
                seq,
                "default-published",
                f"the DECLARE of account {account} published with positions {x.positions}, the fills leave it {held}",
            )
        d = replay.fund.defaults[account]
        if (x.pool_value, x.pool_shares) != (d.pool_value, d.pool_shares):
            raise Discrepancy(
                seq,
                "default-published",
                f"the DECLARE of account {account} is published with the pool at ({x.pool_value}, {x.pool_shares}), "
                f"the vault stored ({d.pool_value}, {d.pool_shares})",
            )
    if shown:
        raise Discrepancy(
            seq, "default-published", f"published as declared in this batch without a DECLARE: accounts {sorted(shown)}"
        )
    plans: dict[int, list[Row]] = defaultdict(list)
    for w in published.waterfalls:
        plans[w.defaulter].extend(r.row() for r in w.draws if r.layer in ON_CHAIN_LAYERS)
    for cover in replay.covers:
        plan = plans.pop(cover.defaulter, None)
        if plan is None:
            raise Discrepancy(
                seq, "waterfall-plan", f"the COVER of account {cover.defaulter} has no published waterfall plan"
            )
        if plan != cover.drawn:
            mine, chain = _layer_totals(plan), _layer_totals(cover.drawn)
            diff = [k for k in sorted(set(mine) | set(chain)) if mine.get(k, 0) != chain.get(k, 0)]
            first = (
                f"; first difference: layer {diff[0]}, published {mine.get(diff[0], 0)}, drawn {chain.get(diff[0], 0)}"
                if diff
                else "; same layer totals, different draws"
            )
            raise Discrepancy(
                seq,
                "waterfall-plan",
                f"the published plan for the default of account {cover.defaulter} splits {_split(plan)} "
                f"({len(plan)} draws), the vault drew {_split(cover.drawn)} ({len(cover.drawn)} draws){first}",
            )
    extra = sorted(a for a, rows in plans.items() if rows)
    if extra:
        raise Discrepancy(
            seq,
            "waterfall-plan",
            f"a waterfall plan is published for account {extra[0]}, which the batch does not COVER",
        )
