"""The verifier's margin re-derivation (offchain/audit/checks/rederive.py) on a real rebuilt model and a
registry, vault state and requirements written by hand: the model record against its inputs and the chain,
haircuts against the model's, the members' tiers, what the re-derivation is run on, every comparison at its
boundary, and the holding window."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import to_checksum_address

from offchain.audit.checks.rederive import (
    IM_OVERSTATE_FACTOR,
    Expected,
    HoldingWindow,
    MarginVerifier,
    last_marks,
    tolerance,
)
from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import AssetMark, VaultReplay
from offchain.audit.model import MarginRederivation, RebuiltModel, Rederived, rebuild
from offchain.audit.published import PublishedBatch
from offchain.chain.registry import Params, RegisteredInstrument, RegistryState, Terms
from offchain.core.batch import Batch, Mark, Requirement
from offchain.core.context import BatchContext
from tests.audit.model_inputs import COLLATERAL, INPUTS, inputs

ZERO32 = b"\x00" * 32
BTC, ETH = "BTC-USD-PERP", "ETH-USD-PERP"
ADDR = {1: "0x" + "11" * 20, 2: "0x" + "22" * 20, 3: "0x" + "33" * 20}
TERMS = Terms(8, 10, 500, 3600, 100, 1)


def registry(
    instruments: dict[str, tuple[str, str]] | None = None, tiers: dict[int, tuple[tuple[int, str], ...]] | None = None
) -> RegistryState:
    # Account 1 is tier1 from 10 s and tier3 from 20 s; account 2 tier2 from 0 s; account 3 has no tier.
    versions = tiers if tiers is not None else {1: ((10, "tier1"), (20, "tier3")), 2: ((0, "tier2"),)}
    kinds = instruments if instruments is not None else {BTC: ("perp", "BTC"), ETH: ("perp", "ETH")}
    return RegistryState(
        address="0x" + "99" * 20,
        block=1,
        venues={},
        instruments={n: RegisteredInstrument(n, k, u, ((0, TERMS),)) for n, (k, u) in kinds.items()},
        tiers={to_checksum_address(ADDR[k]): v for k, v in versions.items()},
        params=Params(fill_max_age_ms=10**6, fill_max_ahead_ms=10**6, min_cure_s=0),
    )


REGISTRY = registry()
PRICES = {0: 10**6, 1: 2_000 * 10**6, 2: 30_000 * 10**6, 3: 10**6}
DECIMALS = {0: 6, 1: 18, 2: 8, 3: 6}


def model(text: str = INPUTS) -> RebuiltModel:
    return rebuild(text)


def vault(
    marks: dict[int, AssetMark] | None = None, requirements: dict[int, tuple[int, int]] | None = None
) -> VaultReplay:
    v = VaultReplay()
    v.accounts = dict(ADDR)
    v.members = {a: k for k, a in ADDR.items()}
    # A full haircut by default: at least any model's (only the haircut check reads it).
    v.marks = marks if marks is not None else {a: AssetMark(p, 10_000, DECIMALS[a]) for a, p in PRICES.items()}
    v.requirements = requirements or {}
    return v


def batch(**fields: Any) -> Batch:
    return Batch(sequence=7, prev_hash=ZERO32, as_of=25, **fields)


def record(text: str = INPUTS, **changes: str) -> dict[str, str]:
    return {"version": "m1", "data_hash": model(text).data_hash, "ledger_days": "0", "inputs": text, **changes}


def published(rec: dict[str, str] | None, context: str | None = "{}") -> PublishedBatch:
    return PublishedBatch(7, context, (), model=rec)


def model_refused(
    pub: PublishedBatch, b: Batch | None = None, v: VaultReplay | None = None, reg: RegistryState = REGISTRY
) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        MarginVerifier(reg).model_of(b or batch(), pub, v or vault())
    assert exc.value.sequence == 7
    return exc.value.check, exc.value.detail


# ---------------------------------------------------------------- the model record


def test_a_published_record_rebuilds_its_model() -> None:
    verifier = MarginVerifier(REGISTRY)
    assert verifier.model is None
    rebuilt = verifier.model_of(batch(), published(record()), vault())
    assert rebuilt is model() and verifier.model is rebuilt
    # A record that does not say how many ledger days it is calibrated on says none.
    rec = record()
    del rec["ledger_days"]
    assert MarginVerifier(REGISTRY).model_of(batch(), published(rec), vault()) is model()


def test_a_batch_that_settles_posts_requirements_or_marks_needs_a_record() -> None:
    assert MarginVerifier(REGISTRY).model_of(batch(), published(None, context=None), vault()) is None
    why = "the batch publishes no risk-model record to re-derive its margin from"
    assert model_refused(published(None)) == ("model", why)
    req = (Requirement(account=1, im=2, mm=1),)
    assert model_refused(published(None, context=None), batch(requirements=req)) == ("model", why)
    marks = (Mark(asset=1, haircut_bps=500, price=5),)
    assert model_refused(published(None, context=None), batch(marks=marks)) == ("model", why)


def test_a_record_that_cannot_be_rebuilt_is_refused() -> None:
    assert model_refused(published({"version": "m1"})) == ("model", "model record m1 publishes no inputs")
    assert model_refused(published({"version": "m2", "inputs": ""})) == ("model", "model record m2 publishes no inputs")
    check, detail = model_refused(published({"version": "m3", "inputs": '{"seed_end": "2022-11-01"}'}))
    assert check == "model" and detail.startswith("malformed model inputs")


def test_a_record_whose_inputs_do_not_give_its_hash_or_its_days_is_refused() -> None:
    rebuilt = model()
    assert model_refused(published(record(ledger_days="3"))) == (
        "model",
        "model m1 says it is calibrated on 3 ledger days, its inputs publish the closes of 0",
    )
    assert model_refused(published(record(data_hash="ab" * 32))) == (
        "model",
        f"the published inputs rebuild a model with data hash {rebuilt.data_hash[:16]}, the batch's record says "
        + "ab" * 8,
    )


def test_the_models_instruments_must_be_the_registrys() -> None:
    assert model_refused(published(record()), reg=registry({BTC: ("perp", "BTC")})) == (
        "model-inputs",
        "instrument ETH-USD-PERP is modelled as ('perp', 'ETH'), the registry has None",
    )
    assert model_refused(published(record()), reg=registry({BTC: ("perp", "BTC"), ETH: ("future", "ETH")})) == (
        "model-inputs",
        "instrument ETH-USD-PERP is modelled as ('perp', 'ETH'), the registry has ('future', 'ETH')",
    )
    assert model_refused(published(record()), reg=registry({BTC: ("perp", "BTC"), ETH: ("perp", "SOL")})) == (
        "model-inputs",
        "instrument ETH-USD-PERP is modelled as ('perp', 'ETH'), the registry has ('perp', 'SOL')",
    )


def test_every_listed_asset_must_be_in_the_models_collateral_with_its_decimals() -> None:
    listed = {**vault().marks, 9: AssetMark(10**6, 100, 6)}
    assert model_refused(published(record()), v=vault(marks=listed)) == (
        "model-inputs",
        "listed asset 9 (6 decimals) is not in the model's collateral",
    )
    wrong = {**vault().marks, 1: AssetMark(PRICES[1], 500, 6)}
    assert model_refused(published(record()), v=vault(marks=wrong)) == (
        "model-inputs",
        "listed asset 1 (6 decimals) is modelled with 18 decimals",
    )
    # Fewer listed assets than the model margins is fine: the model may know an asset before it is listed.
    assert MarginVerifier(REGISTRY).model_of(batch(), published(record()), vault(marks={})) is model()


def test_the_settlement_asset_may_not_move_with_a_factor() -> None:
    text = inputs(collateral=[{**COLLATERAL[0], "factor": "ETH"}, *COLLATERAL[1:]])
    assert model_refused(published(record(text))) == (
        "model-inputs",
        "the settlement asset is modelled with a risk factor",
    )


def test_inputs_are_checked_against_the_chain_once_per_text() -> None:
    verifier = MarginVerifier(REGISTRY)
    verifier.model_of(batch(), published(record()), vault())
    # The same inputs again: not re-checked (the chain's listings are checked as they change elsewhere).
    verifier.model_of(batch(), published(record()), vault(marks={9: AssetMark(1, 1, 6)}))
    with pytest.raises(Discrepancy):
        MarginVerifier(REGISTRY).model_of(batch(), published(record()), vault(marks={9: AssetMark(1, 1, 6)}))


# ---------------------------------------------------------------- haircuts and tiers


def haircut_refused(marks: dict[int, AssetMark]) -> str:
    with pytest.raises(Discrepancy) as exc:
        MarginVerifier(REGISTRY).check_haircuts(7, model(), vault(marks=marks))
    assert (exc.value.sequence, exc.value.check) == (7, "haircut")
    return exc.value.detail


def test_every_priced_haircut_is_at_least_the_models() -> None:
    base = model().base_haircut_bps()
    assert base[0] == 0 and 0 < base[1] < 10_000 and 0 < base[2] < 10_000
    exact = {a: AssetMark(PRICES[a], base[a], DECIMALS[a]) for a in PRICES}
    MarginVerifier(REGISTRY).check_haircuts(7, model(), vault(marks=exact))
    up = {a: AssetMark(PRICES[a], min(base[a] + 1, 10_000), DECIMALS[a]) for a in PRICES}
    MarginVerifier(REGISTRY).check_haircuts(7, model(), vault(marks=up))
    low = {**exact, 1: AssetMark(PRICES[1], base[1] - 1, 18)}
    assert haircut_refused(low) == f"asset 1: haircut {base[1] - 1} bps in force, the model's is {base[1]} bps"
    # An asset with no price yet is not margined: its haircut is not checked.
    MarginVerifier(REGISTRY).check_haircuts(7, model(), vault(marks={**exact, 1: AssetMark(0, 0, 18)}))
    # An asset the model does not know is worth nothing to it: a full haircut.
    MarginVerifier(REGISTRY).check_haircuts(7, model(), vault(marks={9: AssetMark(10**6, 10_000, 6)}))
    assert (
        haircut_refused({9: AssetMark(10**6, 9_999, 6)})
        == "asset 9: haircut 9999 bps in force, the model's is None bps"
    )


def test_a_members_tier_is_the_version_in_force_at_the_time() -> None:
    verifier = MarginVerifier(REGISTRY)
    lower = ADDR[1].lower()
    assert [verifier._tier_at(lower, t) for t in (9, 10, 19, 20, 21)] == [None, "tier1", "tier1", "tier3", "tier3"]
    assert verifier._tier_at(ADDR[2], 0) == "tier2"
    assert verifier._tier_at(ADDR[3], 10**9) is None
    assert verifier._tier_at(lower, 20) == REGISTRY.tier_at(lower, 20)


# ---------------------------------------------------------------- what the requirements are re-derived from

MARKS = {BTC: 30_000 * 10**6, ETH: 2_000 * 10**6}
POSITIONS = {(1, BTC): 10**8, (2, ETH): -5 * 10**8, (3, BTC): 2 * 10**8, (1, ETH): 0, (2, "SOL-PERP"): 0}
HOLDINGS = {(1, 0): 20_000 * 10**6, (2, 1): 3 * 10**18, (3, 2): 10**8, (3, 3): 5_000 * 10**6}


def by_model(
    members: list[tuple[int, str]], holdings: dict[tuple[int, int], int] = HOLDINGS
) -> dict[int, Rederived | str]:
    """The model's requirements, from inputs assembled by hand: the nonzero positions, the registry's units."""
    held = {k: q for k, q in POSITIONS.items() if q}
    return MarginRederivation(model(), 6).requirements(members, held, {BTC: 8, ETH: 8}, MARKS, holdings, PRICES)


def test_requirements_are_re_derived_for_each_member_at_its_tier() -> None:
    expected = MarginVerifier(REGISTRY).rederive(batch(), model(), POSITIONS, MARKS, vault(), (HOLDINGS, HOLDINGS))
    assert expected.sequence == 7
    # Account 1 is tier3 at asOf 25, account 2 tier2; account 3 has no tier: the lightest tier (tier1) for
    # the lower bound, the heaviest (tier3) for the upper.
    assert expected.low == by_model([(1, "tier3"), (2, "tier2"), (3, "tier1")])
    assert expected.high == by_model([(1, "tier3"), (2, "tier2"), (3, "tier3")])
    low, high = expected.low[3], expected.high[3]
    assert isinstance(low, Rederived) and isinstance(high, Rederived)
    assert 0 < low.im < high.im
    on_positions = expected.low[1]
    assert isinstance(on_positions, Rederived) and on_positions.im > 0


def test_the_holding_window_bounds_the_requirements() -> None:
    # Account 2 held far more WETH at some point since the last batch: its haircut, hence its requirement,
    # may have been computed on that.
    high_h = {**HOLDINGS, (2, 1): 10**6 * 10**18}
    expected = MarginVerifier(REGISTRY).rederive(batch(), model(), POSITIONS, MARKS, vault(), (HOLDINGS, high_h))
    assert expected.low == by_model([(1, "tier3"), (2, "tier2"), (3, "tier1")])
    assert expected.high == by_model([(1, "tier3"), (2, "tier2"), (3, "tier3")], high_h)
    assert expected.high[2] != expected.low[2]
    # The same bounds when every member has a tier: still two runs.
    reg = registry(tiers={1: ((0, "tier3"),), 2: ((0, "tier2"),), 3: ((0, "tier2"),)})
    expected = MarginVerifier(reg).rederive(batch(), model(), POSITIONS, MARKS, vault(), (HOLDINGS, high_h))
    assert expected.low == by_model([(1, "tier3"), (2, "tier2"), (3, "tier2")])
    assert expected.high == by_model([(1, "tier3"), (2, "tier2"), (3, "tier2")], high_h)


def rederive_refused(
    positions: dict[tuple[int, str], int], marks: dict[str, int] = MARKS, v: VaultReplay | None = None
) -> str:
    with pytest.raises(Discrepancy) as exc:
        MarginVerifier(REGISTRY).rederive(batch(), model(), positions, marks, v or vault(), (HOLDINGS, HOLDINGS))
    assert (exc.value.sequence, exc.value.check) == (7, "im-rederive")
    return exc.value.detail


def test_a_requirement_that_cannot_be_re_derived_is_a_discrepancy() -> None:
    assert (
        rederive_refused({**POSITIONS, (3, "SOL-PERP"): 1}) == "instrument SOL-PERP has no registered terms at asOf 25"
    )
    assert rederive_refused(POSITIONS, {BTC: MARKS[BTC]}) == (
        "cannot re-derive margin: positions without a mark: ['ETH-USD-PERP']"
    )
    no_tbill = {a: m for a, m in vault().marks.items() if a != 3}
    assert rederive_refused(POSITIONS, v=vault(marks=no_tbill)) == "cannot re-derive margin: 3"


# ---------------------------------------------------------------- the requirements in force against the model's


def expect(low: Rederived | str, high: Rederived | str | None = None, account: int = 1) -> Expected:
    return Expected(7, {account: low}, {account: high if high is not None else low})


def compare_refused(expected: Expected, requirements: dict[int, tuple[int, int]]) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        MarginVerifier.compare(expected, vault(requirements=requirements))
    assert exc.value.sequence == 7
    return exc.value.check, exc.value.detail


def test_requirements_in_force_within_the_tolerance_pass_and_one_unit_beyond_fail() -> None:
    e = expect(Rederived(1_000_000, 500_000, {}))  # tolerances 2 and 1
    assert IM_OVERSTATE_FACTOR == 2
    for im, mm in ((999_998, 499_999), (1_000_000, 500_000), (2_000_002, 2_000_002)):
        MarginVerifier.compare(e, vault(requirements={1: (im, mm)}))
    assert compare_refused(e, {1: (999_997, 500_000)}) == (
        "im-rederive",
        "account 1: IM 999997 in force, the model re-derives 1000000",
    )
    assert compare_refused(e, {1: (1_000_000, 499_998)}) == (
        "mm-rederive",
        "account 1: MM 499998 in force, the model re-derives 500000",
    )
    assert compare_refused(e, {1: (2_000_003, 500_000)}) == (
        "im-overstated",
        "account 1: IM 2000003 in force, above 2x the model's 1000000",
    )


def test_the_floor_is_the_low_run_and_the_ceiling_the_high_run() -> None:
    e = expect(Rederived(100, 50, {}), Rederived(1_000, 500, {}))  # tolerances 1
    MarginVerifier.compare(e, vault(requirements={1: (99, 49)}))
    MarginVerifier.compare(e, vault(requirements={1: (2_001, 49)}))
    assert compare_refused(e, {1: (98, 49)})[0] == "im-rederive"
    assert compare_refused(e, {1: (99, 48)})[0] == "mm-rederive"
    assert compare_refused(e, {1: (2_002, 49)})[0] == "im-overstated"


def test_a_member_with_no_requirement_in_force_has_zero() -> None:
    MarginVerifier.compare(expect(Rederived(1, 1, {}), account=5), vault(requirements={1: (10, 5)}))
    MarginVerifier.compare(expect(Rederived(0, 0, {}), account=5), vault())
    assert compare_refused(expect(Rederived(2, 1, {}), account=5), {})[0] == "im-rederive"
    assert compare_refused(expect(Rederived(1, 2, {}), account=5), {})[0] == "mm-rederive"


def test_a_member_the_model_gives_no_units_keeps_its_requirement() -> None:
    big = Rederived(10**12, 10**12, {})
    for low, high in (("overflow", big), (big, "overflow"), ("overflow", "overflow")):
        MarginVerifier.compare(expect(low, high), vault(requirements={1: (0, 0)}))
    MarginVerifier.compare(expect("overflow", big), vault(requirements={1: (10**15, 0)}))


def test_tolerance_is_one_unit_plus_one_per_million() -> None:
    assert [tolerance(u) for u in (0, 1, 999_999, 1_000_000, 1_999_999, 2_000_000, 10**9)] == [1, 1, 1, 2, 2, 3, 1_001]


# ---------------------------------------------------------------- the holding window and the marks


def test_the_holding_window_keeps_each_non_cash_keys_lowest_and_highest() -> None:
    w = HoldingWindow()
    w.moved((5, 1), 100, 300)
    w.moved((5, 1), 300, 50)
    w.moved((5, 1), 50, 80)
    w.moved((0, 2), 7, 9)  # account 0 (the fee account) is tracked like any other
    w.moved((5, 0), 10, 20)  # cash: its haircut has no concentration part, not tracked
    assert (w.low, w.high) == ({(5, 1): 50, (0, 2): 7}, {(5, 1): 300, (0, 2): 9})
    low, high = w.bounds({(5, 1): 80, (0, 2): 9, (5, 0): 20, (6, 1): 4})
    assert low == {(5, 1): 50, (0, 2): 7, (5, 0): 20, (6, 1): 4}
    assert high == {(5, 1): 300, (0, 2): 9, (5, 0): 20, (6, 1): 4}
    w.reset()
    assert (w.low, w.high) == ({}, {})
    assert w.bounds({(5, 1): 80}) == ({(5, 1): 80}, {(5, 1): 80})


def test_a_key_that_moved_and_is_gone_is_bounded_by_zero() -> None:
    w = HoldingWindow()
    w.moved((5, 1), 5, 7)  # then withdrawn in full: absent from the balances
    w.moved((6, 1), 0, 0)
    low, high = w.bounds({})
    assert low == {(5, 1): 0, (6, 1): 0}
    assert high == {(5, 1): 7, (6, 1): 0}


def test_margin_is_computed_at_each_instruments_last_settled_mark() -> None:
    book = {"A": (5, 100), "B": (6, 200)}
    ctx = BatchContext(marks={"B": 7, "C": 8}, previous_marks={"B": 6}, funding=(), terms={})
    assert last_marks(book, ctx) == {"A": 5, "B": 7, "C": 8}
    assert last_marks(book, None) == {"A": 5, "B": 6}


# ---------------------------------------------------------------- Cover-2 targets (`contribution`)

IM_IN_FORCE = {1: 1_000 * 10**6, 2: 2_000 * 10**6, 3: 500 * 10**6}


def by_cover2(members: list[tuple[int, str]], holdings: dict[tuple[int, int], int] = HOLDINGS) -> dict[int, int]:
    held = {k: q for k, q in POSITIONS.items() if q}
    return MarginRederivation(model(), 6).cover2_targets(
        members, held, {BTC: 8, ETH: 8}, MARKS, IM_IN_FORCE, holdings, PRICES
    )


def targets(high_h: dict[tuple[int, int], int] = HOLDINGS, reg: RegistryState = REGISTRY) -> dict[int, tuple[int, int]]:
    v = vault(requirements={a: (im, im // 2) for a, im in IM_IN_FORCE.items()})
    return MarginVerifier(reg).contribution_targets(batch(), model(), POSITIONS, MARKS, v, (HOLDINGS, high_h))


def test_cover2_targets_are_sized_at_each_members_tier_with_the_im_in_force() -> None:
    got = targets()
    # account 3 has no tier: sized at the lightest (tier1) and the heaviest (tier3), the range of the two
    low, high = (
        by_cover2([(1, "tier3"), (2, "tier2"), (3, "tier1")]),
        by_cover2([(1, "tier3"), (2, "tier2"), (3, "tier3")]),
    )
    assert got == {a: (min(low[a], high[a]), max(low[a], high[a])) for a in low}
    assert got[3][0] < got[3][1] and all(lo > 0 for lo, _ in got.values())
    # the IM in force is the one sized against: with none, every member's excess (and its target) is larger
    none = MarginVerifier(REGISTRY).contribution_targets(
        batch(), model(), POSITIONS, MARKS, vault(), (HOLDINGS, HOLDINGS)
    )
    assert sum(hi for _, hi in none.values()) > sum(hi for _, hi in got.values())


def test_cover2_targets_span_the_holding_window() -> None:
    reg = registry(tiers={1: ((0, "tier3"),), 2: ((0, "tier2"),), 3: ((0, "tier2"),)})
    members = [(1, "tier3"), (2, "tier2"), (3, "tier2")]
    assert targets(reg=reg) == {a: (t, t) for a, t in by_cover2(members).items()}
    # account 2 held far more WETH since the last batch: its collateral's fall in the stressed scenarios
    high_h = {**HOLDINGS, (2, 1): 10**5 * 10**18}
    got, low, high = targets(high_h, reg), by_cover2(members), by_cover2(members, high_h)
    assert got == {a: (min(low[a], high[a]), max(low[a], high[a])) for a in low}
    assert low != high


def test_cover2_targets_that_cannot_be_sized_are_a_discrepancy() -> None:
    with pytest.raises(Discrepancy) as exc:
        MarginVerifier(REGISTRY).contribution_targets(
            batch(), model(), {**POSITIONS, (3, "SOL-PERP"): 1}, MARKS, vault(), (HOLDINGS, HOLDINGS)
        )
    assert (exc.value.sequence, exc.value.check) == (7, "contribution")
    assert exc.value.detail == "instrument SOL-PERP has no registered terms at asOf 25"
    no_tbill = {a: m for a, m in vault().marks.items() if a != 3}
    with pytest.raises(Discrepancy, match="cannot size the default fund: 3") as exc:
        MarginVerifier(REGISTRY).contribution_targets(
            batch(), model(), POSITIONS, MARKS, vault(marks=no_tbill), (HOLDINGS, HOLDINGS)
        )
    assert exc.value.check == "contribution"


def test_the_holding_window_keeps_each_accounts_lowest_cash() -> None:
    w = HoldingWindow()
    w.moved((5, 0), 100, 30)  # a withdrawal request
    w.moved((5, 0), 30, 500)  # a deposit
    w.moved((6, 0), 40, 90)
    w.moved((5, 1), 7, 1)  # not cash
    assert w.cash_low == {5: 30, 6: 40}
    assert w.bounds({(5, 0): 500, (5, 1): 1}) == ({(5, 0): 500, (5, 1): 1}, {(5, 0): 500, (5, 1): 7})
    w.reset()
    assert w.cash_low == {}


def test_the_lowest_cash_is_kept_across_moves_that_rise_and_fall_again() -> None:
    w = HoldingWindow()
    for before, after in ((100, 30), (30, 80), (80, 50)):
        w.moved((5, 0), before, after)
    assert w.cash_low == {5: 30}


def test_a_served_exit_may_have_no_requirement_once_the_member_is_flat() -> None:
    """The engine serves an open exit request of a flat member with IM 0 / MM 0 (offchain/chain/exits.py),
    although the model still charges the concentration of its collateral's haircut: the re-derivation
    accepts that, and only that (a member still holding a position, or without a request, is held to the
    model)."""
    positions = {**POSITIONS, (3, BTC): 0}  # account 3 closed its BTC
    held = {**HOLDINGS, (3, 2): 10**6 * 10**8}  # and holds a concentrated WBTC position: its IM is not 0
    v = vault()
    v.exits = {2, 3}
    expected = MarginVerifier(REGISTRY).rederive(batch(), model(), positions, MARKS, v, (held, held))
    assert expected.flat_exits == frozenset({3})  # account 2 still holds its ETH short
    low = expected.low[3]
    assert isinstance(low, Rederived) and low.im > 0
    served = Expected(7, {3: low}, {3: expected.high[3]}, expected.flat_exits)
    MarginVerifier.compare(served, vault(requirements={3: (0, 0)}))
    assert compare_refused(served, {3: (1, 0)})[0] == "im-rederive"  # not the served requirement
    unserved = Expected(7, served.low, served.high)  # no open request: the model's IM stands
    assert compare_refused(unserved, {3: (0, 0)})[0] == "im-rederive"
