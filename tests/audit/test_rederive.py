"""The verifier's copy of the risk model against the engine's: the same inputs rebuild the same model (same
content hash) and give the same IM, MM and haircuts on random books; and the re-derivation rules."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.audit.checks.prices import EvidenceError, index_of
from offchain.audit.checks.rederive import HoldingWindow, tolerance
from offchain.audit.model import MarginRederivation, ModelInputError, Rederived, rebuild
from offchain.core.obligations import InstrumentSpec
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.marketdata.index import IndexRule, compute_index
from offchain.marketdata.observations import Observation
from offchain.risk.marketdata import PriceHistory
from offchain.settlement.margin import CollateralSpec, RiskEngineMargin, build_risk_margin

ASOF = "2022-11-01"
QTY_DECIMALS = {"BTC-USD-PERP": 8, "ETH-USD-PERP": 8}
TIERS = ("tier1", "tier2")


@lru_cache(maxsize=1)
def engine() -> RiskEngineMargin:
    instruments = {
        i.name: InstrumentSpec(active=True, **{**i.model_dump(), "qty_decimals": QTY_DECIMALS[i.name]})
        for i in DEFAULT_INSTRUMENTS
    }
    return build_risk_margin(instruments, [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL], ASOF)


def verifier() -> MarginRederivation:
    calibration = engine().calibration
    assert calibration is not None
    return MarginRederivation(rebuild(calibration.inputs))


def test_published_inputs_rebuild_the_engines_model() -> None:
    calibration = engine().calibration
    assert calibration is not None
    rebuilt = rebuild(calibration.inputs)
    assert rebuilt.data_hash == calibration.data_hash
    assert rebuilt.base_haircut_bps() == engine().base_haircut_bps()


def test_changed_inputs_rebuild_another_model() -> None:
    calibration = engine().calibration
    assert calibration is not None
    body = json.loads(calibration.inputs)
    body["collateral"][1]["horizon_days"] = 0.5
    assert rebuild(json.dumps(body)).data_hash != calibration.data_hash
    body["seed_end"] = "2022-10-01"
    assert rebuild(json.dumps(body)).data_hash != calibration.data_hash
    with pytest.raises(ModelInputError):
        rebuild('{"seed_end": "2022-11-01"}')


members = st.lists(st.sampled_from(TIERS), min_size=1, max_size=6)
qty = st.integers(-(10**10), 10**10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tiers=members,
    data=st.data(),
    btc=st.integers(5_000 * 10**6, 90_000 * 10**6),
    eth=st.integers(300 * 10**6, 6_000 * 10**6),
)
def test_same_im_mm_and_haircuts_as_the_engine(tiers: list[str], data: st.DataObject, btc: int, eth: int) -> None:
    roster = [(10 + k, tier) for k, tier in enumerate(tiers)]
    positions = {(a, name): data.draw(qty) for a, _ in roster for name in QTY_DECIMALS if data.draw(st.booleans())}
    holdings = {(a, asset): data.draw(st.integers(0, 10**24)) for a, _ in roster for asset in (0, 1, 2, 3)}
    marks = {"BTC-USD-PERP": btc, "ETH-USD-PERP": eth}
    cprices = {0: 10**6, 1: eth, 2: btc, 3: 10**6}
    mine = verifier().requirements(roster, positions, QTY_DECIMALS, marks, holdings, cprices)
    theirs = engine().requirements(roster, positions, marks, holdings, cprices)
    for account, mg in theirs.items():
        got = mine[account]
        if mg.error is not None:
            assert isinstance(got, str)
            continue
        assert isinstance(got, Rederived)
        assert (got.im, got.mm, got.haircut_bps) == (mg.im, mg.mm, mg.haircut_bps)


def test_holding_window_keeps_the_extremes_of_non_cash() -> None:
    w = HoldingWindow()
    w.moved((5, 1), 100, 300)  # a deposit
    w.moved((5, 1), 300, 50)  # a withdrawal request
    w.moved((5, 0), 10, 20)  # cash: its haircut has no concentration part, not tracked
    low, high = w.bounds({(5, 1): 80, (5, 0): 20})
    assert (low[(5, 1)], high[(5, 1)]) == (50, 300)
    assert low[(5, 0)] == high[(5, 0)] == 20
    w.reset()
    assert w.bounds({(5, 1): 80}) == ({(5, 1): 80}, {(5, 1): 80})


def test_tolerance_is_one_unit_plus_one_ppm() -> None:
    assert (tolerance(0), tolerance(999_999), tolerance(10**9)) == (1, 1, 1_001)


prices = st.integers(1, 10**12)


@settings(max_examples=200, deadline=None)
@given(st.lists(prices, min_size=1, max_size=7), st.integers(0, 3))
def test_index_of_the_evidence_is_the_engines_index(quotes: list[int], n_stale: int) -> None:
    """Whatever the sources print, the verifier's index of the published evidence is the engine's index,
    or the verifier refuses the evidence when the engine halts."""
    now = 1_000_000
    rule = IndexRule()
    latest = [Observation("X", f"s{k}", p, now - 1_000) for k, p in enumerate(quotes)]
    latest += [Observation("X", f"old{k}", 1, now - rule.stale_ms - 1) for k in range(n_stale)]
    result = compute_index("X", latest, now, rule)
    evidence = result.evidence()
    if result.price is None:
        with pytest.raises(EvidenceError):
            index_of(evidence, rule)
    else:
        assert index_of(evidence, rule) == result.price


def test_evidence_that_hides_an_agreeing_source_is_refused() -> None:
    rule = IndexRule()
    obs = [Observation("X", s, p, 0) for s, p in (("a", 100_000), ("b", 100_100), ("c", 99_900))]
    evidence = compute_index("X", obs, 1, rule).evidence()
    assert index_of(evidence, rule) == 100_000
    moved = {**evidence, "used": evidence["used"][:1], "rejected": evidence["used"][1:]}  # type: ignore[index]
    with pytest.raises(EvidenceError, match="within 200 bps"):
        index_of(moved, rule)
    lied = {**evidence, "index": "150000"}
    with pytest.raises(EvidenceError, match="states index 150000"):
        index_of(lied, rule)


def test_a_model_recalibrated_on_ledger_days_is_rebuilt_from_its_published_closes() -> None:
    """After the seed come the ledger's daily index closes (one missing close, published as null): the
    inputs carry them and the verifier splices them as the engine does."""
    recal = engine().recalibrator
    assert recal is not None
    seed = recal.seed
    factors = sorted(recal.symbols)
    last = {s: float(seed.close[-1, seed.symbols.index(s)]) for s in factors}
    days = np.array(["2022-11-02", "2022-11-03", "2022-11-04"], dtype="datetime64[D]")
    close = np.array([[last[s] * (1 + 0.01 * k) for s in factors] for k in range(1, 4)])
    close[1, 0] = np.nan
    ledger = PriceHistory(days, tuple(factors), close, np.full_like(close, np.nan))
    _, _, calibration = recal.calibrate(ledger, 0)
    rebuilt = rebuild(calibration.inputs)
    assert rebuilt.inputs.ledger is not None and len(rebuilt.inputs.ledger.dates) == 3
    assert rebuilt.data_hash == calibration.data_hash
    assert calibration.record()["ledger_days"] == "3"
    body = json.loads(calibration.inputs)
    body["ledger"]["close"][0][1] *= 0.5  # one close halved: another model
    assert rebuild(json.dumps(body)).data_hash != calibration.data_hash


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tiers=st.lists(st.sampled_from(TIERS), min_size=1, max_size=6),
    data=st.data(),
    btc=st.integers(5_000 * 10**6, 90_000 * 10**6),
)
def test_same_cover2_targets_as_the_engine(tiers: list[str], data: st.DataObject, btc: int) -> None:
    """The verifier's Cover-2 sizing (`contribution`) is the engine's (offchain/defaults/fund.py) on the same
    book: positions, marks, IM, holdings (their fall beyond the haircut counts) and collateral prices."""
    from offchain.defaults.fund import cover2_targets

    roster = [(10 + k, tier) for k, tier in enumerate(tiers)]
    positions = {(a, name): data.draw(qty) for a, _ in roster for name in QTY_DECIMALS if data.draw(st.booleans())}
    holdings = {(a, asset): data.draw(st.integers(0, 10**22)) for a, _ in roster for asset in (0, 1, 2, 3)}
    im = {a: data.draw(st.integers(0, 10**12)) for a, _ in roster}
    marks = {"BTC-USD-PERP": btc, "ETH-USD-PERP": 1_500 * 10**6}
    cprices = {0: 10**6, 1: 1_500 * 10**6, 2: btc, 3: 10**6}
    mine = verifier().cover2_targets(roster, positions, QTY_DECIMALS, marks, im, holdings, cprices)
    assert mine == cover2_targets(engine(), roster, positions, marks, im, holdings, cprices)
