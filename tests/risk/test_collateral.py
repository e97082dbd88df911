"""Collateral: stressed haircuts, eligibility, concentration caps, wrong-way risk in the joint scenarios."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from offchain.app.settings import CollateralDef
from offchain.core.obligations import InstrumentSpec
from offchain.defaults.fund import cover2_targets
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import CollateralAsset, build_haircuts, collateral_values, stressed_fall
from offchain.risk.instruments import Instrument, Kind, Universe
from offchain.risk.margin import build_model, compute_margin, portfolio_core
from offchain.risk.platform import CollateralStress, reverse_stress, stress_losses
from offchain.risk.scenarios import ScenarioSet
from offchain.settlement.margin import CollateralSpec, build_risk_margin

CFG = MarginConfig()
RNG = np.random.default_rng(3)
FHS = RNG.standard_t(4, size=(2, 400)) * 0.01  # calm history: its ES is far below the stressed fall
# Factor ETH's stressed periods: p0 = -10 %, -20 %, +5 % (a two-day fall of 1 - 0.9 * 0.8 = 28 %); p1 = +10 %.
STRESS = np.array([[-0.10, -0.20, 0.05, 0.10], [0.01, -0.02, 0.0, 0.01]])
LABELS = np.array([0, 0, 0, 1], dtype=np.int64)
SCEN = ScenarioSet(
    np.datetime64("2024-01-01"),
    ("ETH", "ALT"),
    FHS,
    STRESS,
    LABELS,
    ("p0", "p1"),
    np.array([0.01, 0.01]),
    np.array([1e9, 1e9]),
    np.array([2_000.0, 1.0]),
)
USDC = CollateralAsset("USDC", None)
WETH = CollateralAsset("WETH", "ETH", horizon_days=2.0)
UNIVERSE = Universe((Instrument("ETH-USD-PERP", Kind.PERP, "ETH", 1.0, 0.0005, None),))
MODEL = build_model(SCEN, UNIVERSE, CFG)


def test_stressed_fall_compounds_over_the_horizon_within_one_period() -> None:
    assert stressed_fall(SCEN, 0, 2.0) == pytest.approx(0.28)  # -10 % then -20 %, never across periods
    assert stressed_fall(SCEN, 0, 1.0) == pytest.approx(0.20)
    assert stressed_fall(SCEN, 0, 1.5) == pytest.approx(0.28)  # ceil: a part day is a whole day to sell
    assert stressed_fall(SCEN, 0, 10.0) == pytest.approx(0.28)  # the +5 % rebound after is no relief
    assert stressed_fall(SCEN, 1, 2.0) == pytest.approx(0.02)


def test_base_haircut_covers_the_stressed_horizon_move() -> None:
    hc = build_haircuts(SCEN, [USDC, WETH], CFG)
    assert hc.stressed is not None
    np.testing.assert_allclose(hc.stressed, [0.0, 0.28])
    assert hc.base[0] == 0.0
    assert hc.base[1] == pytest.approx(0.28)  # the stressed move binds, not the calm ES
    assert hc.returns is not None
    np.testing.assert_allclose(hc.returns[1], np.concatenate([FHS[0], STRESS[0]]) * np.sqrt(2.0))
    np.testing.assert_array_equal(hc.returns[0], 0.0)


def test_eligibility_by_tier_and_share_cap() -> None:
    alt = CollateralAsset("ALT", "ALT", tiers=frozenset({0}), max_share=0.25)
    hc = build_haircuts(SCEN, [USDC, WETH, alt], CFG)
    b_alt = float(hc.base[2])
    holdings = np.array([[1_000.0, 0.0, 1_000.0], [1_000.0, 0.0, 1_000.0], [0.0, 0.0, 1_000.0]])
    prices = np.array([1.0, 2_000.0, 1.0])
    eff, value = collateral_values(holdings, prices, hc, np.array([0, 1, 0], dtype=np.int64))
    # tier 0: ALT counted at most 25 % of the total haircut value 1,000 + 1,000 (1 - b)
    v_alt = min(1_000 * (1 - b_alt), 0.25 * (1_000 + 1_000 * (1 - b_alt)))
    assert value[0] == pytest.approx(1_000 + v_alt)
    assert eff[0, 2] == pytest.approx(1 - v_alt / 1_000)
    assert value[1] == pytest.approx(1_000.0) and eff[1, 2] == 1.0  # tier 1 may not post ALT
    assert value[2] == pytest.approx(0.25 * 1_000 * (1 - b_alt))  # a member holding only ALT
    with pytest.raises(ConfigError):
        CollateralAsset("X", "ETH", max_share=0.0)


def _margin(q: float, holdings: np.ndarray) -> tuple[float, float, float]:
    hc = build_haircuts(SCEN, [USDC, WETH], CFG)
    cprices = np.array([1.0, 2_000.0])
    r = compute_margin(
        np.array([[q]]), np.array([2_000.0]), holdings, cprices, np.zeros(1, dtype=np.int64), MODEL, hc, CFG
    )
    joint = portfolio_core(np.array([[q]]), np.array([2_000.0]), holdings, cprices, MODEL, hc, CFG)
    return float(r.excess[0]), float(r.es_core[0]), float(joint[0])


def test_long_eth_perp_backed_by_weth_is_not_margined_like_usdc() -> None:
    """Wrong-way: 10 ETH long perp, $40,000 of collateral as USDC or as 20 WETH."""
    ex_usdc, core, joint_usdc = _margin(10.0, np.array([[40_000.0, 0.0]]))
    ex_weth, core_w, joint_weth = _margin(10.0, np.array([[0.0, 20.0]]))
    assert core_w == core and joint_usdc == pytest.approx(core)  # USDC adds no scenario risk
    assert ex_weth == pytest.approx(ex_usdc - 40_000 * 0.28)  # the stressed WETH haircut, in full
    # Jointly the WETH falls with the perp (comonotone: the risks add up, no diversification) ...
    weth_alone = _margin(0.0, np.array([[0.0, 20.0]]))[2]
    assert joint_weth == pytest.approx(core + weth_alone, rel=1e-12)
    # ... and the haircut covers that joint risk: the on-chain check is the binding, conservative one.
    assert ex_weth <= 40_000 - joint_weth
    # A short perp backed by WETH is a right-way hedge: far less joint risk, but no credit is given.
    ex_short, _, joint_short = _margin(-10.0, np.array([[0.0, 20.0]]))
    assert joint_short < 0.5 * joint_weth
    assert ex_short == pytest.approx(_margin(-10.0, np.array([[40_000.0, 0.0]]))[0] - 40_000 * 0.28)


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float64, (5, 1), elements=st.floats(-100, 100)),
    arrays(np.float64, (5, 2), elements=st.floats(0, 1e5)),
)
def test_haircut_check_never_looser_than_the_joint_measure(q: np.ndarray, holdings: np.ndarray) -> None:
    hc = build_haircuts(SCEN, [USDC, WETH], CFG)
    cprices = np.array([1.0, 2_000.0])
    prices = np.array([2_000.0])
    r = compute_margin(q, prices, holdings, cprices, np.zeros(5, dtype=np.int64), MODEL, hc, CFG)
    joint = portfolio_core(q, prices, holdings, cprices, MODEL, hc, CFG)
    market = (holdings * cprices).sum(axis=1)
    slack = 1e-9 * (market + np.abs(q[:, 0]) * 2_000 + 1)
    assert np.all(r.collateral_value - r.es_core <= market - joint + slack)


HYP_SCEN = replace(SCEN, hypothetical=np.array([[-0.5], [-0.6]]), hypothetical_names=("hyp:crash",))
HYP_MODEL = build_model(HYP_SCEN, UNIVERSE, CFG)
HOLD_AB = np.array([[40_000.0, 0.0], [0.0, 20.0]])  # member A: USDC; member B: WETH, same market value
CPRICES = np.array([1.0, 2_000.0])


def test_cover2_losses_include_the_collateral_fall_beyond_the_haircut() -> None:
    hc = build_haircuts(HYP_SCEN, [USDC, WETH], CFG)
    q = np.array([[10.0], [10.0]])  # both long 10 ETH perps
    coll = CollateralStress.of(HOLD_AB, CPRICES, hc)
    np.testing.assert_allclose(coll.haircut, [0.0, 40_000 * 0.28])
    plain = stress_losses(q, np.array([2_000.0]), HYP_MODEL)
    with_c = stress_losses(q, np.array([2_000.0]), HYP_MODEL, coll)
    np.testing.assert_allclose(with_c.by_scenario[0], plain.by_scenario[0])  # USDC: nothing more
    # B's WETH falls sqrt(2) x the ETH day (its 2-day horizon) and the crash's 50 %; beyond the 28 % haircut:
    fall = 40_000 * np.concatenate([-STRESS[0] * np.sqrt(2.0), [0.5]])
    np.testing.assert_allclose(with_c.by_scenario[1] - plain.by_scenario[1], np.maximum(fall - 11_200, 0.0))
    assert with_c.by_scenario[1, -1] == pytest.approx(10_000 + 8_800)  # the hypothetical crash, both legs


def test_reverse_stress_with_wrong_way_collateral_is_reached_sooner() -> None:
    hc = build_haircuts(HYP_SCEN, [USDC, WETH], CFG)
    q, p, im = np.array([[10.0], [10.0]]), np.array([2_000.0]), np.array([2_000.0, 2_000.0])
    coll = CollateralStress.of(HOLD_AB, CPRICES, hc)
    without = reverse_stress(q, p, im, 20_000.0, np.array([-0.5]), "crash", tol=1e-9)
    # losses 10,000 k each: 2 (10,000 k - 2,000) > 20,000 at k = 1.2
    assert without.scale == pytest.approx(1.2, abs=1e-8)
    wrong_way = reverse_stress(
        q, p, im, 20_000.0, np.array([-0.5]), "crash", tol=1e-9, collateral=coll, collateral_moves=np.array([0, -0.5])
    )
    # B also loses 20,000 k - 11,200 of WETH beyond its haircut: 40,000 k - 4,000 - 11,200 > 20,000 at k = 0.88
    assert wrong_way.scale == pytest.approx(0.88, abs=1e-8)
    np.testing.assert_array_equal(wrong_way.members, [0, 1])
    with pytest.raises(ConfigError):
        reverse_stress(q, p, im, 1.0, np.array([-0.5]), "crash", collateral=coll)


def test_no_members_yet_margins_nobody_and_does_not_fail() -> None:
    """A fresh deployment has no members: the margin run (tiers, eligibility, share caps) returns empty
    arrays. This once raised a broadcast error in the eligibility mask and killed every engine node."""
    alt = CollateralAsset("ALT", "ALT", tiers=frozenset({0}), max_share=0.25)
    hc = build_haircuts(SCEN, [USDC, WETH, alt], CFG)
    none = np.zeros(0, dtype=np.int64)
    eff, value = collateral_values(np.zeros((0, 3)), np.array([1.0, 2_000.0, 1.0]), hc, none)
    assert eff.shape == (0, 3) and value.shape == (0,)
    r = compute_margin(np.zeros((0, 1)), np.array([2_000.0]), np.zeros((0, 2)), np.array([1.0, 2_000.0]), none,
                       MODEL, build_haircuts(SCEN, [USDC, WETH], CFG), CFG)  # fmt: skip
    assert r.im_units.shape == (0,) and r.collateral_units.shape == (0,)


def test_live_margin_adapter_with_no_members_posts_no_requirement() -> None:
    """The engine's adapter, as `crossclear engine` builds it for the operator path (WETH on ETH)."""
    specs = [CollateralSpec(0, "USDC", 6, None), CollateralSpec(1, "WETH", 18, "ETH")]
    margin = build_risk_margin({}, specs, "2022-11-01")
    assert margin.requirements([], {}, {}, {}, {0: 1_000_000, 1: 1_600_000_000}) == {}
    assert 0 < margin.base_haircut_bps()[1] < 10_000


def test_live_cover2_targets_include_the_members_wrong_way_collateral() -> None:
    """The engine's default-fund sizing with the members' holdings: three members long 100 ETH perps. Posting
    USDC adds no stressed loss (the same targets as without holdings); posting the same value as WETH, the
    collateral falls with the perp in the same scenarios beyond its haircut, and the fund grows."""
    instruments = {i.name: InstrumentSpec(active=True, **i.model_dump()) for i in DEFAULT_INSTRUMENTS}
    margin = build_risk_margin(
        instruments, [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL], "2022-11-05"
    )
    members = [(10, "tier1"), (11, "tier1"), (12, "tier2")]
    positions = {(a, "ETH-USD-PERP"): 100 * 10**8 for a, _ in members}
    marks = {"ETH-USD-PERP": 2_000 * 10**6, "BTC-USD-PERP": 30_000 * 10**6}
    cprices = {0: 10**6, 1: 2_000 * 10**6, 2: 30_000 * 10**6, 3: 10**6}
    usdc = {(a, 0): 400_000 * 10**6 for a, _ in members}
    weth = {(a, 1): 200 * 10**18 for a, _ in members}
    im = {a: mg.im for a, mg in margin.requirements(members, positions, marks, usdc, cprices).items()}
    bare = cover2_targets(margin, members, positions, marks, im)
    assert sum(bare.values()) > 0
    assert cover2_targets(margin, members, positions, marks, im, usdc, cprices) == bare
    wrong_way = cover2_targets(margin, members, positions, marks, im, weth, cprices)
    assert all(wrong_way[a] > bare[a] for a, _ in members)
    # Why: the WETH falls further than its haircut in the stressed scenarios the fund is sized on.
    hm = margin.haircut_model
    assert hm.returns is not None and float(-hm.returns[1, margin.model.n_fhs :].min()) > hm.base[1]


def test_engine_settings_govern_eligibility_and_share_cap_by_tier_name() -> None:
    """`[[collateral]]` in the engine's settings: `tiers = ["tier1"]`, `max_share = 0.5` reach the margin run."""
    weth_def = CollateralDef(asset=1, symbol="WETH", decimals=18, factor="ETH", tiers=("tier1",), max_share=0.5)
    specs = [CollateralSpec(0, "USDC", 6, None), CollateralSpec(**weth_def.model_dump())]
    assert specs[1].tiers == ("tier1",)
    margin = build_risk_margin({}, specs, "2022-11-01")
    cprices = {0: 10**6, 1: 1_600 * 10**6}
    holdings = {(a, 0): 1_000 * 10**6 for a in (1, 2)} | {(a, 1): 10 * 10**18 for a in (1, 2)}
    out = margin.requirements([(1, "tier1"), (2, "tier2")], {}, {}, holdings, cprices)
    weth_value = 16_000 * (1 - margin.haircut_model.base[1])
    # tier1: WETH counted up to half of the total haircut value; tier2 may not post WETH at all.
    assert out[1].collateral_value == pytest.approx(min(weth_value, 0.5 * (1_000 + weth_value)) * 10**6 + 1_000 * 10**6,
                                                   abs=2)  # fmt: skip
    assert out[2].collateral_value == 1_000 * 10**6 and out[2].haircut_bps[1] == 10_000
    with pytest.raises(ConfigError, match="unknown tiers"):
        build_risk_margin({}, [CollateralSpec(1, "WETH", 18, "ETH", tiers=("gold",))], "2022-11-01")
