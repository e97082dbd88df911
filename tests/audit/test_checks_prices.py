"""The verifier's price-evidence checks (offchain/audit/checks/prices.py) on evidence written by hand: the
index the published observations give (every refusal, the outlier band and the quorum at their boundaries),
marks against their evidence, and collateral prices against theirs (par, halted, re-derived)."""

from __future__ import annotations

from typing import Any

import pytest

from offchain.audit.checks.prices import EvidenceError, check_collateral, check_marks, index_of
from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import AssetMark
from offchain.audit.model import RebuiltModel, rebuild
from offchain.core.batch import Batch, Mark
from offchain.core.context import BatchContext
from offchain.marketdata.index import IndexRule
from tests.audit.model_inputs import INPUTS

ZERO32 = b"\x00" * 32
RULE = IndexRule()  # 200 bps band, quorum max(1, known // 2 + 1)


def obs(source: str, price: int, ts_ms: int = 5) -> dict[str, Any]:
    return {"source": source, "price": str(price), "ts_ms": ts_ms, "signature": None, "signer": None}


def ev(
    used: list[dict[str, Any]],
    rejected: list[dict[str, Any]] | None = None,
    stale: list[dict[str, Any]] | None = None,
    index: str | None = None,
) -> dict[str, Any]:
    return {"index": index, "halt": None, "used": used, "rejected": rejected or [], "stale": stale or []}


def refused(evidence: dict[str, Any], rule: IndexRule = RULE) -> str:
    with pytest.raises(EvidenceError) as exc:
        index_of(evidence, rule)
    return str(exc.value)


# Median 100_000_000, band 200 bps = 2_000_000: `b` exactly at the band's edge agrees, `c` one unit beyond it
# is an outlier (at this scale a band of 9_999 or 10_001 per 10_000 moves the edge by more than one unit).
A, B, C = obs("a", 100_000_000), obs("b", 102_000_000), obs("c", 97_999_999)


def test_index_is_the_median_of_the_sources_within_the_band() -> None:
    assert index_of(ev([A, B], [C]), RULE) == 101_000_000
    assert index_of(ev([A, B], [C], index="101000000"), RULE) == 101_000_000
    # One source alone, at the smallest positive price.
    assert index_of(ev([obs("a", 1)]), RULE) == 1
    # Order does not matter: the verifier sorts what agrees and what the evidence used.
    assert index_of(ev([B, A], [C]), RULE) == 101_000_000


def test_evidence_that_moves_a_source_across_the_band_is_refused() -> None:
    assert "the evidence used ['a']" in refused(ev([A], [B, C]))  # b, at the edge, agrees
    assert "within 200 bps of the median 100000000 are ['a', 'b']" in refused(ev([A, B, C]))  # c does not
    assert "are ['a', 'b']" in refused(ev([A, C], [B]))


def test_malformed_evidence_is_refused() -> None:
    assert refused({"used": "a"}) == "used is not a list"
    assert refused({"used": [A], "stale": {"x": 1}}) == "stale is not a list"
    assert "malformed observation in used" in refused({"used": [{"source": "a"}]})
    assert "malformed observation in rejected" in refused({"used": [A], "rejected": [{**B, "price": "x"}]})
    assert "malformed observation in stale" in refused({"used": [A], "stale": [None]})
    assert refused({}) == "no fresh observation"
    assert refused(ev([], [], [obs("s", 100)])) == "no fresh observation"


def test_one_observation_per_source() -> None:
    assert refused(ev([A], [], [obs("a", 1, 0)])) == "more than one observation per source"
    assert refused(ev([A, obs("a", 100_000_001)])) == "more than one observation per source"
    assert refused(ev([A], [obs("a", 50_000_000)])) == "more than one observation per source"


def test_non_positive_prices_are_refused() -> None:
    assert refused(ev([obs("a", 0)])) == "a non-positive price"
    assert refused(ev([A], [obs("z", -5)])) == "a non-positive price"
    assert refused(ev([A, obs("b", 0)])) == "a non-positive price"


def test_quorum_is_a_strict_majority_of_the_known_sources() -> None:
    s1, s2, s3 = obs("s1", 1), obs("s2", 1), obs("s3", 1)
    # Two known: both must agree.
    assert refused(ev([A], [], [s1])) == "1 agreeing sources, quorum 2 of 2 known"
    assert index_of(ev([A, obs("b", 100_000_002)]), RULE) == 100_000_001
    # Three known: two suffice, one does not.
    assert index_of(ev([A, B], [], [s1]), RULE) == 101_000_000
    assert refused(ev([A], [], [s1, s2])) == "1 agreeing sources, quorum 2 of 3 known"
    # Four known: three.
    assert refused(ev([A, B], [], [s1, s2])) == "2 agreeing sources, quorum 3 of 4 known"
    assert index_of(ev([A, B, obs("d", 100_000_000)], [], [s1]), RULE) == 100_000_000
    # Five known: three (5 // 2 + 1).
    assert index_of(ev([A, B, obs("d", 101_000_000)], [], [s1, s2]), RULE) == 101_000_000
    assert refused(ev([A, B], [], [s1, s2, s3])) == "2 agreeing sources, quorum 3 of 5 known"


def test_quorum_is_at_least_the_rules_minimum() -> None:
    rule = IndexRule(min_sources=3)
    assert refused(ev([A, B]), rule) == "2 agreeing sources, quorum 3 of 2 known"
    assert index_of(ev([A, B, obs("d", 99_000_000)]), rule) == 100_000_000


def test_a_stated_index_must_be_the_one_the_observations_give() -> None:
    assert index_of(ev([A, B], [C], index="101000000"), RULE) == 101_000_000
    assert refused(ev([A, B], [C], index="101000001")) == (
        "the evidence states index 101000001, its observations give 101000000"
    )
    assert index_of(ev([A, B], [C], index=None), RULE) == 101_000_000


def batch(marks: tuple[Mark, ...] = ()) -> Batch:
    return Batch(sequence=4, prev_hash=ZERO32, as_of=100, marks=marks)


def context(marks: dict[str, int]) -> BatchContext:
    return BatchContext(marks=marks, previous_marks={}, funding=(), terms={})


def mark_refused(evidence: dict[str, Any], marks: dict[str, int]) -> str:
    with pytest.raises(Discrepancy) as exc:
        check_marks(batch(), evidence, context(marks), RULE)
    assert (exc.value.sequence, exc.value.check) == (4, "mark-evidence")
    return exc.value.detail


def test_every_settled_mark_is_the_index_of_its_evidence() -> None:
    evidence = {"BTC-PERP": ev([A, B], [C]), "ETH-PERP": ev([obs("a", 2_000)])}
    check_marks(batch(), evidence, context({"BTC-PERP": 101_000_000, "ETH-PERP": 2_000}), RULE)
    check_marks(batch(), evidence, context({}), RULE)
    assert mark_refused(evidence, {"BTC-PERP": 101_000_000, "ETH-PERP": 2_001}) == (
        "ETH-PERP is settled at 2001, the index of its published observations is 2000"
    )
    assert mark_refused(evidence, {"BTC-PERP": 100_999_999}) == (
        "BTC-PERP is settled at 100999999, the index of its published observations is 101000000"
    )
    assert mark_refused(evidence, {"SOL-PERP": 7}) == "SOL-PERP is settled at 7 with no published price evidence"
    assert mark_refused({"SOL-PERP": "7"}, {"SOL-PERP": 7}) == (
        "SOL-PERP is settled at 7 with no published price evidence"
    )
    assert mark_refused({"BTC-PERP": ev([A, B, C])}, {"BTC-PERP": 101_000_000}).startswith(
        "BTC-PERP settled at 101000000: the sources within 200 bps"
    )


def model() -> RebuiltModel:
    return rebuild(INPUTS)


USDC, WETH, WBTC, TBILL = 0, 1, 2, 3
BEFORE = {WETH: AssetMark(2_000_000_000, 1_000, 18), WBTC: AssetMark(30_000_000_000, 1_000, 8)}
EVIDENCE = {"ETH": ev([obs("a", 2_100_000_000)]), "BTC": ev([A, B], [C])}


def posted(*rows: tuple[int, int]) -> tuple[Mark, ...]:
    return tuple(Mark(asset=a, haircut_bps=500, price=p) for a, p in rows)


def collateral_refused(
    marks: tuple[Mark, ...], evidence: dict[str, Any] = EVIDENCE, before: dict[int, AssetMark] = BEFORE
) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        check_collateral(batch(marks), evidence, model(), before, RULE)
    assert exc.value.sequence == 4
    return exc.value.check, exc.value.detail


def test_collateral_prices_are_their_factors_index_and_par_without_a_factor() -> None:
    honest = posted((USDC, 10**6), (WETH, 2_100_000_000), (WBTC, 101_000_000), (TBILL, 10**6))
    check_collateral(batch(honest), EVIDENCE, model(), BEFORE, RULE)
    check_collateral(batch(), {}, model(), {}, RULE)
    # Par is one whole settlement token: 10**decimals of it.
    check_collateral(batch(posted((USDC, 10**8), (TBILL, 10**8))), {}, model(), {}, RULE, settlement_decimals=8)
    assert collateral_refused(posted((WETH, 2_099_999_999))) == (
        "collateral-evidence",
        "asset 1 is posted at 2099999999, the index of ETH's published observations is 2100000000",
    )
    assert collateral_refused(posted((WBTC, 101_000_001))) == (
        "collateral-evidence",
        "asset 2 is posted at 101000001, the index of BTC's published observations is 101000000",
    )


@pytest.mark.parametrize("asset", [USDC, TBILL])
@pytest.mark.parametrize("price", [10**6 - 1, 10**6 + 1, 10**5, 10**7, 60])
def test_an_asset_without_a_risk_factor_off_par_is_refused(asset: int, price: int) -> None:
    assert collateral_refused(posted((asset, price))) == (
        "collateral-price",
        f"asset {asset} moves with no risk factor but is posted at {price}, not 1000000",
    )


def test_a_moving_asset_needs_evidence_for_its_factor() -> None:
    assert collateral_refused(posted((WETH, 2_100_000_000)), {"BTC": EVIDENCE["BTC"]}) == (
        "collateral-evidence",
        "asset 1 is posted at 2100000000 with no evidence for ETH",
    )
    assert collateral_refused(posted((WBTC, 101_000_000)), {"BTC": ["a"]}) == (
        "collateral-evidence",
        "asset 2 is posted at 101000000 with no evidence for BTC",
    )
    # An asset the model does not list: no factor to take evidence for.
    assert collateral_refused(posted((9, 10**6)), {"None": EVIDENCE["ETH"]}) == (
        "collateral-evidence",
        "asset 9 is posted at 1000000 with no evidence for None",
    )
    check, detail = collateral_refused(posted((WBTC, 101_000_000)), {"BTC": ev([A, B, C])})
    assert check == "collateral-evidence" and detail.startswith("asset 2 (BTC): the sources within 200 bps")


def test_a_halted_price_keeps_the_price_in_force() -> None:
    halted = {**EVIDENCE, "ETH": {**ev([]), "guard": "jump"}}
    check_collateral(batch(posted((WETH, 2_000_000_000))), halted, model(), BEFORE, RULE)
    assert collateral_refused(posted((WETH, 2_100_000_000)), halted) == (
        "collateral-evidence",
        "asset 1: ETH's price is halted (jump), yet it is posted at 2100000000, not the 2000000000 in force",
    )
    assert collateral_refused(posted((WETH, 2_000_000_000)), halted, {}) == (
        "collateral-evidence",
        "asset 1: ETH's price is halted (jump), yet it is posted at 2000000000, not the None in force",
    )
    # A guard of None is no halt: the price is re-derived from the observations.
    unguarded = {**EVIDENCE, "ETH": {**EVIDENCE["ETH"], "guard": None}}
    check_collateral(batch(posted((WETH, 2_100_000_000))), unguarded, model(), BEFORE, RULE)
