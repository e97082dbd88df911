"""The auditor's default-action check (offchain/audit/checks/defaults.py) on a replayed COVER built by hand.

Member 7 defaults with a debt of 40: its contribution (5), operator capital (10) and the survivors' fund (20)
cover 35, and the last 5 is assessed 3:2 to survivors 10 and 11 (contributions 12 and 8 at the DECLARE).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from offchain.audit.checks.defaults import check_default_actions
from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord
from offchain.audit.events.replay import CoverRecord, DefaultRecordTuple, VaultReplay
from offchain.audit.published import (
    PublishedBatch,
    PublishedDeclare,
    PublishedDefaults,
    PublishedDraw,
    PublishedWaterfall,
)
from offchain.core.batch import COVER, DECLARE, Batch, DefaultAction
from offchain.core.waterfall import Pool, Survivor, WaterfallInput, plan_waterfall

DEFAULTER = 7
POOL = Pool(25, 25)
STATE = WaterfallInput(
    defaulter=DEFAULTER,
    loss=40,
    collateral=(),
    contribution=5,
    operator_capital=10,
    pool=POOL,
    pool_at_declare=POOL,
    survivors=(Survivor(10, 12, 100), Survivor(11, 8, 100)),
)
DRAWN = [(2, 7, 0, 5, 5), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 3, 3), (5, 11, 0, 2, 2)]
Row = tuple[int, int, int, int, int]


def cover(
    drawn: list[Row] | None = None, assessed: list[tuple[int, int]] | None = None, amount: int = 40
) -> CoverRecord:
    return CoverRecord(
        defaulter=DEFAULTER,
        amount=amount,
        debt=40,
        state=STATE,
        plan=plan_waterfall(STATE),
        drawn=list(DRAWN if drawn is None else drawn),
        assessed=[(10, 3), (11, 2)] if assessed is None else assessed,
    )


def events(rows: list[Row], defaulter: int = DEFAULTER) -> list[DefaultRecordTuple]:
    return [("draw", defaulter, *r) for r in rows]


def plan_of(rows: list[Row], defaulter: int = DEFAULTER) -> PublishedWaterfall:
    return PublishedWaterfall(1, defaulter, tuple(PublishedDraw(*r) for r in rows))


def batch(*actions: tuple[int, int], as_of: int = 1_000) -> Batch:
    return Batch(
        sequence=8,
        prev_hash=b"\x00" * 32,
        as_of=as_of,
        default_actions=tuple(DefaultAction(account=a, action=k, amount=0) for a, k in actions),
    )


def run(
    c: CoverRecord | None = None,
    observed: list[DefaultRecordTuple] | None = None,
    published: PublishedDefaults | None = None,
    positions: dict[tuple[int, str], int] | None = None,
    b: Batch | None = None,
    replay: VaultReplay | None = None,
    emitted: list[DefaultRecordTuple] | None = None,
) -> None:
    c = cover() if c is None else c
    v = VaultReplay() if replay is None else replay
    v.covers = [c]
    mine = events(DRAWN) if emitted is None else emitted
    shown = PublishedDefaults(waterfalls=(plan_of(DRAWN),)) if published is None else published
    check_default_actions(
        batch((DEFAULTER, COVER)) if b is None else b,
        PublishedBatch(8, None, (), shown),
        v,
        {(DEFAULTER, "BTC"): 0, (10, "BTC"): 3} if positions is None else positions,
        mine,
        mine if observed is None else observed,
    )


def finding(**kw: object) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        run(**kw)  # type: ignore[arg-type]
    assert exc.value.sequence == 8
    return exc.value.check, exc.value.detail


HEAD = (
    "COVER of 40 for account 7: the vault drew {got}, the waterfall rule from the auditor's state gives "
    "L2 5, L3 10, L4 20, L5 5"
)


def test_the_rules_cover_passes() -> None:
    assert plan_waterfall(STATE).assessments[0].amount == 3
    run()


def test_a_different_draw_names_the_layer_at_fault() -> None:
    over = [(2, 7, 0, 5, 5), (3, 3, 0, 10, 10), (4, 2, 0, 21, 21), (5, 10, 0, 3, 3), (5, 11, 0, 2, 2)]
    assert finding(observed=events(over)) == (
        "waterfall",
        HEAD.format(got="L2 5, L3 10, L4 21, L5 5") + " (over-draw: the draws cover 41 of a COVER of 40)",
    )
    beyond = [(2, 7, 0, 4, 4), (3, 3, 0, 11, 11), (4, 2, 0, 20, 20), (5, 10, 0, 3, 3), (5, 11, 0, 2, 2)]
    assert finding(observed=events(beyond))[1].endswith("(over-draw: layer 3 gave 11, it held 10)")
    early = [(3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 10, 10)]
    assert finding(observed=events(early))[1].endswith("(layer 3 drawn while layer 2 still held 5)")
    at_capacity = [(2, 7, 0, 5, 5), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 2, 2), (5, 11, 0, 3, 3)]
    assert finding(observed=events(at_capacity))[1] == HEAD.format(got="L2 5, L3 10, L4 20, L5 5")
    assert finding(observed=[])[1] == HEAD.format(got="nothing")


def test_draws_for_an_account_no_cover_covers() -> None:
    assert finding(observed=events(DRAWN) + events([(3, 3, 0, 1, 1)], defaulter=9)) == (
        "waterfall",
        "the vault drew the waterfall for account 9, which no COVER covers",
    )


def test_other_default_events_differing() -> None:
    extra: list[DefaultRecordTuple] = [*events(DRAWN), ("declare", 9, 0)]
    check, detail = finding(observed=extra)
    assert check == "default-events" and detail.startswith("the rules give the default-fund events")


def test_a_cover_must_be_completed_inside_the_vault() -> None:
    assert finding(c=cover(amount=41)) == (
        "waterfall",
        "COVER of 41 for account 7: layers 1-5 cover 40; external exposure 1 (must be 0)",
    )
    short = DRAWN[:-1]
    assert finding(c=cover(drawn=short), emitted=events(short))[1].endswith("external exposure 2 (must be 0)")
    external = cover()
    external = replace(external, plan=replace(external.plan, external=3))
    assert finding(c=external)[1].endswith("layers 1-5 cover 40; external exposure 3 (must be 0)")


def test_a_cover_only_once_the_defaulter_is_flat() -> None:
    assert finding(positions={(DEFAULTER, "BTC"): -2, (DEFAULTER, "ETH"): 0}) == (
        "cover",
        "COVER of account 7 while it still holds {'BTC': -2}: the close-out is not finished",
    )


def test_assessments_must_be_the_pro_rata_split() -> None:
    check, detail = finding(c=cover(assessed=[(10, 2), (11, 3)]))
    assert check == "assessments"
    assert "account 10 was assessed 2, its pro-rata share is 3 (contribution at DECLARE 12 of 20)" in detail
    assert detail.endswith("the 5 layers 1-4 left splits as {10: 3, 11: 2}, the batch assessed {10: 2, 11: 3}")
    check, detail = finding(c=cover(assessed=[(10, 3), (11, 1), (12, 1)]))
    assert "account 11 was assessed 1, its pro-rata share is 2" in detail
    _, detail = finding(c=cover(assessed=[(10, 3), (11, 2), (12, 1)]))
    assert "account 12 was assessed 1 but had no contribution at the DECLARE" in detail
    run(c=cover(assessed=[(10, 1), (11, 2), (10, 2)]))  # rows of one account add up


def declared_replay(amount: int, deadline: int) -> VaultReplay:
    v = VaultReplay()
    v.margin_calls[9] = (amount, deadline)
    v.fund.defaults[9] = DefaultRecord(pool_value=25, pool_shares=25, index=0, epoch=0, open=True)
    return v


DECLARED = PublishedDefaults(declared=(PublishedDeclare(1, 9, {"BTC": 4}, 25, 25, 0),), waterfalls=(plan_of(DRAWN),))
POSITIONS = {(DEFAULTER, "BTC"): 0, (9, "BTC"): 4, (9, "ETH"): 0}


def test_a_declare_needs_an_overdue_margin_call() -> None:
    b = batch((9, DECLARE), (DEFAULTER, COVER))
    run(b=b, replay=declared_replay(50, 1_000), published=DECLARED, positions=POSITIONS)  # deadline == asOf
    assert finding(b=b, replay=declared_replay(0, 0), published=DECLARED, positions=POSITIONS) == (
        "declare",
        "DECLARE of account 9, which has no margin call outstanding",
    )
    assert finding(b=b, replay=declared_replay(50, 1_001), published=DECLARED, positions=POSITIONS) == (
        "declare",
        "DECLARE of account 9 at 1000, before its margin call's deadline 1001",
    )


def test_each_declare_is_published_with_its_positions_and_pool() -> None:
    b = batch((9, DECLARE), (DEFAULTER, COVER))
    r = declared_replay(50, 900)
    missing = PublishedDefaults(waterfalls=(plan_of(DRAWN),))
    assert finding(b=b, replay=r, published=missing, positions=POSITIONS) == (
        "default-published",
        "the DECLARE of account 9 is not published",
    )
    wrong = replace(DECLARED, declared=(PublishedDeclare(1, 9, {"BTC": 5}, 25, 25, 0),))
    assert finding(b=b, replay=declared_replay(50, 900), published=wrong, positions=POSITIONS)[1] == (
        "the DECLARE of account 9 published with positions {'BTC': 5}, the fills leave it {'BTC': 4}"
    )
    for pool in ((24, 25), (25, 24)):
        moved = replace(DECLARED, declared=(PublishedDeclare(1, 9, {"BTC": 4}, *pool, 0),))
        assert finding(b=b, replay=declared_replay(50, 900), published=moved, positions=POSITIONS)[1] == (
            f"the DECLARE of account 9 is published with the pool at ({pool[0]}, {pool[1]}), the vault stored (25, 25)"
        )
    assert finding(published=DECLARED) == (
        "default-published",
        "published as declared in this batch without a DECLARE: accounts [9]",
    )


def test_each_cover_has_exactly_its_published_plan() -> None:
    assert finding(published=PublishedDefaults()) == (
        "waterfall-plan",
        "the COVER of account 7 has no published waterfall plan",
    )
    off = [(2, 7, 0, 5, 5), (3, 3, 0, 9, 9), (4, 2, 0, 21, 21), (5, 10, 0, 3, 3), (5, 11, 0, 2, 2)]
    assert finding(published=PublishedDefaults(waterfalls=(plan_of(off),))) == (
        "waterfall-plan",
        "the published plan for the default of account 7 splits L2 5, L3 9, L4 21, L5 5 (5 draws), the vault drew "
        "L2 5, L3 10, L4 20, L5 5 (5 draws); first difference: layer 3, published 9, drawn 10",
    )
    swapped = [(2, 7, 0, 5, 5), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 11, 0, 2, 2), (5, 10, 0, 3, 3)]
    assert finding(published=PublishedDefaults(waterfalls=(plan_of(swapped),)))[1].endswith(
        "; same layer totals, different draws"
    )
    with_l6 = PublishedDefaults(waterfalls=(plan_of([*DRAWN, (6, 12, 0, 1, 1)]), plan_of([(6, 12, 0, 1, 1)], 9)))
    run(published=with_l6)  # layer 6 is off-chain: not compared, and a plan of only L6 is no extra plan
    extra = PublishedDefaults(waterfalls=(plan_of(DRAWN), plan_of([(3, 3, 0, 1, 1)], 9)))
    assert finding(published=extra) == (
        "waterfall-plan",
        "a waterfall plan is published for account 9, which the batch does not COVER",
    )


def test_the_first_earlier_layer_still_holding_is_named() -> None:
    skipped = [(4, 2, 0, 20, 20), (5, 10, 0, 20, 20)]
    assert finding(observed=events(skipped))[1].endswith("(layer 4 drawn while layer 2 still held 5)")


def test_the_cover_is_completed_in_value_not_in_token_amounts() -> None:
    rows = [(1, 7, 1, 999, 5), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 3, 3), (5, 11, 0, 2, 2)]
    run(c=cover(drawn=rows), emitted=events(rows), published=PublishedDefaults(waterfalls=(plan_of(rows),)))


def test_a_declare_of_a_member_the_vault_never_called() -> None:
    b = batch((9, DECLARE), (DEFAULTER, COVER))
    r = VaultReplay()
    r.fund.defaults[9] = DefaultRecord(pool_value=25, pool_shares=25, index=0, epoch=0, open=True)
    assert finding(b=b, replay=r, published=DECLARED, positions=POSITIONS) == (
        "declare",
        "DECLARE of account 9, which has no margin call outstanding",
    )


def test_a_published_plan_missing_a_layer_names_it() -> None:
    missing = [r for r in DRAWN if r[0] != 3]
    assert finding(published=PublishedDefaults(waterfalls=(plan_of(missing),)))[1].endswith(
        "; first difference: layer 3, published 0, drawn 10"
    )


def test_the_first_account_out_of_line_is_the_one_named() -> None:
    _, detail = finding(c=cover(assessed=[(9, 1), (10, 3), (11, 2)]))
    assert "account 9 was assessed 1 but had no contribution at the DECLARE" in detail


# A smaller default: a debt of 36 leaves 1 to assess after layers 2-4, all of it to survivor 10 (the larger
# remainder of 12:8), so a survivor's share, a layer's total and a plan's difference can each be one unit.
STATE_36 = replace(STATE, loss=36)
DRAWN_36 = [(2, 7, 0, 5, 5), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 1, 1)]


def cover_36(assessed: list[tuple[int, int]] | None = None) -> CoverRecord:
    return CoverRecord(
        defaulter=DEFAULTER,
        amount=36,
        debt=36,
        state=STATE_36,
        plan=plan_waterfall(STATE_36),
        drawn=list(DRAWN_36),
        assessed=[(10, 1)] if assessed is None else assessed,
    )


def run_36(**kw: object) -> None:
    shown = kw.pop("published", PublishedDefaults(waterfalls=(plan_of(DRAWN_36),)))
    run(c=cover_36(**kw), emitted=events(DRAWN_36), published=shown)  # type: ignore[arg-type]


def finding_36(**kw: object) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        run_36(**kw)
    return exc.value.check, exc.value.detail


def test_a_share_of_one_unit_left_unassessed_is_the_one_named() -> None:
    assert [(d.account, d.amount) for d in plan_waterfall(STATE_36).assessments] == [(10, 1)]
    run_36()
    check, detail = finding_36(assessed=[(11, 1)])
    assert check == "assessments"
    assert "account 10 was assessed 0, its pro-rata share is 1 (contribution at DECLARE 12 of 20)" in detail


def test_an_earlier_layer_holding_one_unit_and_not_drawn_is_named() -> None:
    state = replace(STATE, contribution=1)
    drawn = [(2, 7, 0, 1, 1), (3, 3, 0, 10, 10), (4, 2, 0, 20, 20), (5, 10, 0, 5, 5), (5, 11, 0, 4, 4)]
    c = CoverRecord(DEFAULTER, 40, 40, state, plan_waterfall(state), drawn, [(10, 5), (11, 4)])
    skipped = [(3, 3, 0, 10, 10), (4, 2, 0, 20, 20)]
    assert finding(c=c, emitted=events(drawn), observed=events(skipped))[1].endswith(
        "(layer 3 drawn while layer 2 still held 1)"
    )


def test_a_plan_one_unit_off_in_a_layer_names_that_layer() -> None:
    without_l5 = [r for r in DRAWN_36 if r[0] != 5]
    assert finding_36(published=PublishedDefaults(waterfalls=(plan_of(without_l5),))) == (
        "waterfall-plan",
        "the published plan for the default of account 7 splits L2 5, L3 10, L4 20 (3 draws), the vault drew "
        "L2 5, L3 10, L4 20, L5 1 (4 draws); first difference: layer 5, published 0, drawn 1",
    )
    extra_l1 = [(1, 7, 2, 3, 1), *DRAWN_36]
    assert finding_36(published=PublishedDefaults(waterfalls=(plan_of(extra_l1),)))[1].endswith(
        "; first difference: layer 1, published 1, drawn 0"
    )
    # A published row worth nothing in a layer the vault did not draw: the totals agree, the draws do not.
    worthless_l1 = [(1, 7, 2, 3, 0), *DRAWN_36]
    assert finding_36(published=PublishedDefaults(waterfalls=(plan_of(worthless_l1),)))[1].endswith(
        "(5 draws), the vault drew L2 5, L3 10, L4 20, L5 1 (4 draws); same layer totals, different draws"
    )
