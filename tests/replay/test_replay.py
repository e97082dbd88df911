"""Replays on synthetic paths: known answers, netting, conservation of losses, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.cli.replay_command import main as replay_main
from offchain.replay.config import ReplayConfig
from offchain.replay.engine import ReplayResult, replay_files
from offchain.replay.report import markdown_tables, text_summary, to_json
from offchain.replay.setup import venue_mm
from offchain.replay.waterfall import LAYERS
from offchain.risk.addons import liquidity_addon
from offchain.risk.config import MarginConfig
from offchain.risk.haircuts import HaircutModel
from offchain.risk.margin import compute_margin
from tests.replay.helpers import history, hourly_path, member, population
from tests.risk.helpers import make_model


@pytest.fixture(scope="module")
def hist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return history(tmp_path_factory.mktemp("h") / "daily.csv")


def run(
    tmp: Path,
    hist: Path,
    btc: list[float],
    members: list[dict[str, Any]],
    *,
    venues: list[dict[str, Any]] | None = None,
) -> ReplayResult:
    prices = hourly_path(tmp / "path.csv", btc)
    pop = population(tmp / "pop.json", members, venues)
    return replay_files([str(prices)], [], members=str(pop), history=[str(hist)], perp_history=[])


def test_flat_path_nothing_happens(tmp_path: Path, hist: Path) -> None:
    r = run(
        tmp_path,
        hist,
        [20000.0] * 30,
        [
            member("long", [("a", "BTC-USD-PERP", 1e6)]),
            member("short", [("b", "BTC-USD-PERP", -1e6)]),
        ],
    )
    cc, vo = r.crossclear, r.venue_only
    assert (cc.margin_calls, len(cc.defaults), cc.tranches, cc.adl_count) == (0, 0, 0, 0)
    assert all(v == 0 for v in cc.layers.values())
    assert (vo.liquidations, len(vo.defaults), vo.adl_count) == (0, 0, 0)
    assert r.steps == 30 and r.step_hours == 1


def test_offsetting_book_nets_in_crossclear_only(tmp_path: Path, hist: Path) -> None:
    """Long on one venue, short on another: crossclear margins the net (zero); venue-only margins each leg
    alone and liquidates the losing one in a crash, with the gain stranded on the other venue."""
    crash = [20000.0] * 3 + [20000.0 * (1 - 0.05 * k) for k in range(1, 9)] + [12000.0] * 5
    r = run(
        tmp_path,
        hist,
        crash,
        [
            member("hedged", [("a", "BTC-USD-PERP", 5e6), ("b", "BTC-USD-PERP", -5e6)], cushion=1.2, response_hours=48),
            member("other", [("a", "ETH-USD-PERP", 1e6)], capital=1e6),
        ],
    )
    s = r.setup
    assert s.cc_im0[0] == pytest.approx(0.0, abs=1e-6)
    assert s.cc_im0[0] <= s.venue_im0[:, 0].sum()
    assert "hedged" not in r.crossclear.defaults and r.crossclear.margin_calls == 0
    assert r.venue_only.liquidations >= 1  # the long leg on venue a


@settings(max_examples=100, deadline=None)
@given(a=st.floats(1e3, 1e8), b=st.floats(1e3, 1e8), i=st.integers(0, 2))
def test_venue_only_never_better_netted(a: float, b: float, i: int) -> None:
    """An offsetting book (long a on one venue, short b on another): margining the net with the risk engine
    (crossclear) never asks more than margining each venue's leg alone, with the same engine or with the
    venue-only bracket rule."""
    model = make_model()
    cfg = MarginConfig()
    n = len(model.universe)
    legs = np.zeros((2, n))
    legs[0, i], legs[1, i] = a / 100.0, -b / 100.0
    p = np.full(n, 100.0)
    hc = HaircutModel((), np.zeros(0), np.zeros(0))
    tiers = np.zeros(1, dtype=np.int64)

    def im(q: np.ndarray) -> float:
        return float(compute_margin(q[None, :], p, np.zeros((1, 0)), np.zeros(0), tiers, model, hc, cfg).im[0])

    assert im(legs.sum(axis=0)) <= im(legs[0]) + im(legs[1]) + 1e-6
    rc = ReplayConfig()
    split = venue_mm(legs[:, None, :], p, rc).sum()
    assert venue_mm(legs.sum(axis=0)[None, None, :], p, rc).sum() <= split + 1e-6


def test_gap_default_known_answer(tmp_path: Path, hist: Path) -> None:
    """A 50 % gap wipes out a thin long: a deep-breach call, declared at the next step (its 30 min cure has
    passed), 4 unbid tranches at a flat price, each closed against the house at the engine's penalty (the
    liquidity add-on at the DECLARE over the gross notional, at least 10 bps, at most the 500 bps band); the
    loss is its VM plus those penalties, L1 takes its collateral, the rest goes down the waterfall in order and
    is covered exactly."""
    path = [20000.0] * 3 + [10000.0] * 10
    r = run(
        tmp_path,
        hist,
        path,
        [
            member("thin", [("a", "BTC-USD-PERP", 10e6)], capital=1e6),
            member("mm", [("b", "BTC-USD-PERP", -10e6)], capital=5e6),
        ],
    )
    cc = r.crossclear
    assert cc.defaults == ["thin"]
    assert cc.tranches == 4 and cc.bid_notional == 0
    assert [e["t"] for e in cc.events if e["event"] in ("margin_call", "default")] == ["2023-01-01T04", "2023-01-01T05"]
    dm = r.setup.market.model_for(4)
    q = r.setup.q0[0, 0]
    hs = dm.model.universe.half_spreads()
    addon = float(
        liquidity_addon(np.array([[q, 0.0]]), np.array([10000.0, 1500.0]), hs, dm.model.sigma, dm.model.adv, 1.0)[0]
    )
    bps = min(max(-(-math.ceil(addon * 1e6) * 10_000 // math.ceil(q * 10000.0 * 1e6)), 10), 500)
    penalty = q * 10000.0 * bps / 10_000
    assert cc.unbid_penalty_cost == pytest.approx(penalty, rel=1e-6)
    loss = 5e6 + penalty
    assert sum(cc.layers.values()) + cc.uncovered == pytest.approx(loss, rel=1e-9)
    assert cc.layers["L1_defaulter_collateral"] == pytest.approx(1e6)
    s = r.setup
    caps = [1e6, s.contributions[0], s.operator_capital, s.contributions[1], 2 * s.contributions[1]]
    amounts = [cc.layers[k] for k in LAYERS]
    for k in range(1, len(amounts)):
        if amounts[k] > 0:  # a layer is used only once every earlier one is exhausted
            assert all(amounts[j] == pytest.approx(caps[j]) for j in range(min(k, len(caps))))
    assert cc.layers["L6_vm_haircut"] <= max(r.crossclear.events[-1]["loss"], 0)
    assert cc.uncovered == 0


def test_conservation_on_every_waterfall(tmp_path: Path, hist: Path) -> None:
    path = [20000.0 * (1 - 0.04 * k) for k in range(12)] + [11000.0] * 8
    r = run(
        tmp_path,
        hist,
        path,
        [
            member("a", [("x", "BTC-USD-PERP", 8e6)], cushion=1.05, kind="thin"),
            member("b", [("x", "BTC-USD-PERP", 6e6), ("y", "ETH-USD-PERP", 2e6)], cushion=1.1),
            member("c", [("y", "BTC-USD-PERP", -14e6)], cushion=2.0, bidder=True, reserve=1.0),
            member("d", [("y", "ETH-USD-PERP", -2e6)], cushion=2.0, bidder=True),
        ],
    )
    wf = [e for e in r.crossclear.events if e["event"] == "waterfall"]
    assert wf, "expected at least one default"
    for e in wf:
        assert sum(e["layers"].values()) + e["uncovered"] == pytest.approx(e["loss"], rel=1e-9, abs=1e-6)
    total = sum(e["loss"] for e in wf)
    assert sum(r.crossclear.layers.values()) + r.crossclear.uncovered == pytest.approx(total, rel=1e-9)
    j = to_json(r)
    for side in ("crossclear", "venue_only"):
        assert {"defaults", "layers", "adl_count", "adl_amount"} <= set(j[side])
    assert j["crossclear"]["external_exposure"] == 0
    json.dumps(to_json(r, events=True))
    assert "crossclear" in text_summary(r) and "| w |" in markdown_tables([("w", r)])


def test_cli_bad_files_exit_2(tmp_path: Path, hist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = hourly_path(tmp_path / "p.csv", [20000.0] * 10)
    pop = population(tmp_path / "pop.json", [member("a", [("x", "BTC", 1e6)]), member("b", [("x", "BTC", -1e6)])])
    base = ["--history", str(hist), "--history-perp", str(hist)]
    (tmp_path / "bad.csv").write_text("timestamp,symbol,close\n2023-01-01T00:00:00Z,BTC,abc\n")
    (tmp_path / "nohdr.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "pop2.json").write_text(json.dumps({"members": [{"name": "a", "positions": []}]}))
    cases = [
        ["--prices", str(tmp_path / "missing.csv"), "--members", str(pop)],
        ["--prices", str(tmp_path / "bad.csv"), "--members", str(pop)],
        ["--prices", str(tmp_path / "nohdr.csv"), "--members", str(pop)],
        ["--prices", str(prices), "--members", str(tmp_path / "bad.json")],
        ["--prices", str(prices), "--members", str(tmp_path / "pop2.json")],
        ["--prices", str(prices), "--members", str(tmp_path / "nope.json")],
        ["--prices", str(prices), "--members", str(pop), "--from", "2030-01-01"],
        ["--prices", str(prices), "--members", str(pop), "--from", "not-a-date"],
    ]
    for argv in cases:
        assert replay_main([*argv, *base[:2]]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("crossclear: ") and "Traceback" not in err
    assert replay_main(["--prices", str(prices), "--members", str(pop), "--json", *base[:2]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["crossclear"]["adl_count"] == 0
