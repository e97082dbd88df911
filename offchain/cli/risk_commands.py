"""`crossclear backtest` and `crossclear margin`: the risk engine on price files (see docs/risk.md).

Both read price files in the documented candle format (``data/market/README.md``): CSV or gzip CSV with
``timestamp,symbol,...,close,volume``. Symbols are used as written (``BTC``, ``BTC-PERP``); a file given
with ``--perp`` gets ``-PERP`` appended to its symbols (the shipped perpetual file lists ``BTC``, ``ETH``).

Positions file (``crossclear margin --positions FILE``), JSON::

    {
      "positions":  [{"member": "alice", "instrument": "BTC-USD-PERP", "qty": 2.5, "venue": "dex-a"}, ...],
      "collateral": [{"member": "alice", "asset": "USDC", "qty": 100000}, ...],
      "tiers":      {"alice": 0}
    }

``instrument`` is a cleared instrument: spot ``X`` or perpetual ``X-USD-PERP`` (on series ``X-PERP`` if the
prices have it, else on ``X``); ``qty`` is signed (long > 0) in base units; ``venue`` is informational —
rows of one member and instrument are netted across venues. ``asset`` is ``USDC``/``USDT``/``USD`` (the
settlement numeraire, no haircut) or a spot symbol ``X`` in the prices; ``qty`` ≥ 0. ``collateral`` and
``tiers`` (member → tier index, default 0) are optional. Every member appearing anywhere is margined.
Marks are the last close in the prices; the scenario set is built as of that close.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offchain.risk.backtest import (
    BacktestRow,
    Portfolio,
    correct_model_pass_rate,
    default_proxies,
    member_portfolio,
    run_backtest,
    standard_portfolios,
)
from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError, RiskError
from offchain.risk.haircuts import CollateralAsset, build_haircuts
from offchain.risk.instruments import BASIS_ADDON, Instrument, Kind, Universe, margin_period, net_positions
from offchain.risk.margin import build_model, compute_margin
from offchain.risk.marketdata import PriceHistory, load_candles, merge, parse_day
from offchain.risk.scenarios import ScenarioConfig, build_scenarios, filter_history

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SPOT = ROOT / "data" / "market" / "binance-spot-daily.csv.gz"
SHIPPED_PERP = ROOT / "data" / "market" / "binance-usdm-perp-hourly.csv.gz"
NUMERAIRES = ("USDC", "USDT", "USD")
COVERAGE = 0.99


def _err(msg: str) -> int:
    print(f"crossclear: {msg}", file=sys.stderr)
    return 2


def load_prices(prices: list[str] | None, perp: list[str] | None) -> PriceHistory:
    """Merge the price files (the shipped spot and perpetual files if none is given)."""
    if not prices and not perp:
        return merge(load_candles(SHIPPED_SPOT), load_candles(SHIPPED_PERP, suffix="-PERP"))
    hists = [load_candles(p) for p in prices or []] + [load_candles(p, suffix="-PERP") for p in perp or []]
    return merge(*hists)


# ----------------------------------------------------------------------------------------------- backtest
#: Train/test split: every model parameter was chosen on history before this day; the test window (and
#: the pass/fail verdict) starts here by default, so the test days played no part in those choices.
SPLIT = "2023-01-01"

#: The naive baseline the final IM is compared with: plain FHS ES 97.5 % (one RiskMetrics EWMA, no fast
#: leg, no basis filter, no rescaling cap, no stressed block or weight).
NAIVE = ScenarioConfig(
    ewma_lambda_fast=None, max_scale=1e9, basis_filter=False, basis_stress_days=0, stress_periods=(), hypothetical=None
)


def population_portfolios(path: str, symbols: tuple[str, ...]) -> list[Portfolio]:
    """The members of a replay population file (docs/stress-replays.md) as test portfolios."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
        members = doc["members"]
        return [
            member_portfolio(m["name"], [(x["instrument"], float(x["notional"])) for x in m["positions"]], symbols)
            for m in members
        ]
    except OSError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{p}: not a population file (members[].positions[].instrument/notional): {exc}") from exc


def backtest_rows(
    history: PriceHistory,
    start: np.datetime64 | None,
    end: np.datetime64 | None,
    members: list[Portfolio] | None = None,
) -> list[dict[str, Any]]:
    """One dict per asset/portfolio (and member book): the FHS model's tests, the final IM's exceedances
    and its size against the naive FHS baseline."""
    ports = standard_portfolios(history.symbols) + (members or [])
    proxies = default_proxies(history.symbols)
    first = start if start is not None else history.dates[0]
    kw: dict[str, Any] = {"start": first, "end": end, "coverage": COVERAGE}
    sc = ScenarioConfig()
    model, _ = run_backtest(
        history, ports, proxies, scenario_config=sc, margin_config=MarginConfig(apc_weight=0.0), **kw
    )
    final, _ = run_backtest(history, ports, proxies, scenario_config=sc, margin_config=MarginConfig(), **kw)
    naive, _ = run_backtest(
        history, ports, proxies, scenario_config=NAIVE, margin_config=MarginConfig(apc_weight=0.0), **kw
    )
    return [_row(a, b, c) for a, b, c in zip(model, final, naive, strict=True)]


def _num(x: float, digits: int) -> float | None:
    return None if math.isnan(x) else round(x, digits)


def _row(a: BacktestRow, b: BacktestRow, c: BacktestRow) -> dict[str, Any]:
    ratio = b.mean_im / c.mean_im if a.tested and c.mean_im > 0 else math.nan
    return {
        "name": a.name,
        "tested": a.tested,
        "note": a.note,
        "observations": a.observations,
        "expected": round(a.expected, 2),
        "exceedances": a.exceedances,
        "kupiec_p": _num(a.kupiec_p, 4),
        "christoffersen_p": _num(a.christoffersen_p, 4),
        "pass": a.passed,
        "es_ratio": _num(a.es_ratio, 3),
        "es_p": round(a.es_p, 4),
        "es_tail_days": a.es_tail_days,
        "es_pass": a.es_passed,
        "im_exceedances": b.exceedances,
        "im_pass": b.exceedances <= b.expected,
        "mean_im": _num(b.mean_im, 5),
        "naive_im": _num(c.mean_im, 5),
        "im_vs_naive": _num(ratio, 3),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tested = [r for r in rows if r["tested"]]
    ratios = [r["im_vs_naive"] for r in tested if r["im_vs_naive"] is not None]
    return {
        "rows": len(tested),
        "not_tested": [r["name"] for r in rows if not r["tested"]],
        "model_pass": sum(r["pass"] for r in tested),
        "es_pass": sum(r["es_pass"] for r in tested),
        "im_pass": sum(r["im_pass"] for r in tested),
        "mean_im_vs_naive": round(sum(ratios) / len(ratios), 3) if ratios else None,
        **_correct_model_baseline([r["observations"] for r in tested]),
    }


def _correct_model_baseline(observations: list[int]) -> dict[str, float]:
    """What a correct model would score on these rows (rows taken as independent): the expected number
    failing Kupiec or Christoffersen, and the probability that none fails (backtest.correct_model_pass_rate)."""
    rate = {n: correct_model_pass_rate(n, 1 - COVERAGE) for n in set(observations)}
    return {
        "correct_model_expected_failures": round(sum(1 - rate[n] for n in observations), 2),
        "correct_model_all_pass_p": round(math.prod(rate[n] for n in observations), 4),
    }


def _f(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def backtest_markdown(rows: list[dict[str, Any]], window: str) -> str:
    s = summary(rows)
    n = s["rows"]
    lines = [
        "# Back-test of the initial margin",
        "",
        f"Generated by `crossclear backtest` ({window}). Coverage 99 %, one-day P&L of USD 1 per leg.",
        f"Train/test split at {SPLIT}: model parameters were chosen on history before it; the default window",
        "(this table) is the test window after it. `x`: exceedances of the FHS model (ES 97.5 %, no stressed",
        "weight), tested by Kupiec (POF) and Christoffersen (independence) at 95 %; `ES ratio`: mean loss / ES",
        'on the days the loss exceeded VaR 97.5 %, with the one-sided p-value of H0 "ES not understated"',
        "(McNeil–Frey; 1.0 with fewer than 5 tail days); `x IM`: exceedances of the final core IM (with the 25 %",
        "stressed weight), which must not exceed the expected count; `IM / naive`: mean final IM over the mean",
        "IM of a naive FHS ES 97.5 % (one EWMA λ 0.94, nothing else). See docs/risk.md.",
        "",
        f"**Model rows passing Kupiec and Christoffersen: {s['model_pass']}/{n}; ES test: {s['es_pass']}/{n}; "
        f"final IM within expected: {s['im_pass']}/{n}; mean final IM / naive baseline: "
        f"{_f(s['mean_im_vs_naive'], '.3f')}.** A correct model would fail "
        f"{s['correct_model_expected_failures']:.2f} of these rows on average and pass all of them with "
        f"probability {s['correct_model_all_pass_p']:.3f} (rows taken as independent; `correct_model_pass_rate`).",
        "",
        "| portfolio | n | expected | x | Kupiec p | Christoffersen p | pass | ES ratio | ES p | x IM | IM pass "
        "| mean IM / notional | IM / naive |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["tested"]:
            continue
        lines.append(
            f"| {r['name']} | {r['observations']} | {r['expected']:.1f} | {r['exceedances']} "
            f"| {_f(r['kupiec_p'], '.3f')} | {_f(r['christoffersen_p'], '.3f')} | {'yes' if r['pass'] else 'NO'} "
            f"| {_f(r['es_ratio'], '.2f')} | {r['es_p']:.3f} | {r['im_exceedances']} "
            f"| {'yes' if r['im_pass'] else 'NO'} | {_f(r['mean_im'], '.4f')} | {_f(r['im_vs_naive'], '.2f')} |"
        )
    notes = [r for r in rows if r["note"]]
    if notes:
        lines += ["", "Notes (rows not tested, legs dropped):", ""]
        lines += [f"- {r['name']}: {r['note']}" for r in notes]
    return "\n".join(lines) + "\n"


def run_backtest_command(
    prices: list[str] | None,
    perp: list[str] | None,
    start: str | None,
    end: str | None,
    as_json: bool,
    out: str | None,
    populations: list[str] | None = None,
) -> int:
    """`crossclear backtest`: exit 0 if every tested row passes, 1 if some fail, 2 on bad input. Rows with
    no test day are reported, not fatal. ``populations``: replay population files whose members' books
    are tested too."""
    start = SPLIT if start is None else start
    try:
        history = load_prices(prices, perp)
        d0, d1 = parse_day(start, "--from"), parse_day(end, "--to")
        members = [m for f in populations or [] for m in population_portfolios(f, history.symbols)]
        rows = backtest_rows(history, d0, d1, members)
    except (RiskError, OSError) as exc:
        return _err(str(exc))
    tested = [r for r in rows if r["tested"]]
    ok = bool(tested) and all(r["pass"] and r["im_pass"] for r in tested)
    window = f"--from {start} --to {end or 'end of data'}"
    if out:
        try:
            Path(out).write_text(backtest_markdown(rows, window))
        except OSError as exc:
            return _err(f"cannot write {out}: {exc}")
    if as_json:
        print(
            json.dumps({"coverage": COVERAGE, "split": SPLIT, "all_pass": ok, "summary": summary(rows), "rows": rows})
        )
        return 0 if ok else 1
    print(
        f"{'portfolio':48s} {'n':>5s} {'exp':>5s} {'x':>3s} {'kupiec_p':>8s} {'chris_p':>8s} pass"
        f" {'es_p':>6s} | {'x_IM':>4s} {'IM/notional':>11s} {'IM/naive':>8s}"
    )
    for r in tested:
        print(
            f"{r['name'][:48]:48s} {r['observations']:5d} {r['expected']:5.1f} {r['exceedances']:3d}"
            f" {r['kupiec_p']:8.3f} {r['christoffersen_p']:8.3f} {'yes' if r['pass'] else 'NO ':4s}"
            f" {r['es_p']:6.3f} | {r['im_exceedances']:4d} {_f(r['mean_im'], '11.4f')} {_f(r['im_vs_naive'], '8.2f')}"
        )
    for r in rows:
        if r["note"]:
            print(f"note: {r['name']}: {r['note']}")
    sm = summary(rows)
    print(
        f"model rows passing both tests: {sm['model_pass']}/{sm['rows']}; ES test {sm['es_pass']}/{sm['rows']}; "
        f"final IM exceedances <= expected on {sm['im_pass']}/{sm['rows']}; "
        f"mean final IM / naive FHS {_f(sm['mean_im_vs_naive'], '.3f')}; a correct model fails "
        f"{sm['correct_model_expected_failures']:.2f} rows on average, passes all with p "
        f"{sm['correct_model_all_pass_p']:.3f}"
    )
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------- margin
@dataclass(frozen=True)
class Book:
    """A parsed positions file."""

    members: tuple[str, ...]
    instruments: tuple[str, ...]
    pos_member: list[int]
    pos_instrument: list[int]
    pos_qty: list[float]
    assets: tuple[str, ...]
    holdings: np.ndarray
    tiers: np.ndarray


def _field(row: Any, key: str, where: str) -> Any:
    if not isinstance(row, dict) or key not in row:
        raise ConfigError(f"{where}: missing field {key!r}")
    return row[key]


def _qty(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: qty must be a finite number, got {value!r}")
    return float(value)


def parse_positions(path: str) -> Book:
    """Parse and validate a positions file (format in the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"positions file not found: {p}")
    try:
        doc = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("positions"), list):
        raise ConfigError(f"{p}: expected an object with a 'positions' list")
    coll = doc.get("collateral", [])
    tiers = doc.get("tiers", {})
    if not isinstance(coll, list) or not isinstance(tiers, dict):
        raise ConfigError(f"{p}: 'collateral' must be a list and 'tiers' an object")
    members: dict[str, int] = {}
    instruments: dict[str, int] = {}
    pm, pi, pq = [], [], []
    for k, row in enumerate(doc["positions"]):
        where = f"{p}: positions[{k}]"
        m, ins = str(_field(row, "member", where)), _field(row, "instrument", where)
        if not isinstance(ins, str) or not ins:
            raise ConfigError(f"{where}: instrument must be a non-empty string")
        pm.append(members.setdefault(m, len(members)))
        pi.append(instruments.setdefault(ins, len(instruments)))
        pq.append(_qty(_field(row, "qty", where), where))
    assets: dict[str, int] = {}
    hold: list[tuple[int, int, float]] = []
    for k, row in enumerate(coll):
        where = f"{p}: collateral[{k}]"
        m, a = str(_field(row, "member", where)), _field(row, "asset", where)
        q = _qty(_field(row, "qty", where), where)
        if not isinstance(a, str) or not a:
            raise ConfigError(f"{where}: asset must be a non-empty string")
        if q < 0:
            raise ConfigError(f"{where}: collateral qty must be >= 0, got {q}")
        hold.append((members.setdefault(m, len(members)), assets.setdefault(a, len(assets)), q))
    holdings = np.zeros((len(members), len(assets)))
    for m_i, a_i, q in hold:
        holdings[m_i, a_i] += q
    tier_arr = np.zeros(len(members), dtype=np.int64)
    for m, t in tiers.items():
        if m not in members:
            raise ConfigError(f"{p}: tiers: unknown member {m!r}")
        if isinstance(t, bool) or not isinstance(t, int):
            raise ConfigError(f"{p}: tiers[{m!r}] must be an integer tier index")
        tier_arr[members[m]] = t
    if not members:
        raise ConfigError(f"{p}: no members")
    return Book(tuple(members), tuple(instruments), pm, pi, pq, tuple(assets), holdings, tier_arr)


def _universe(names: tuple[str, ...], history: PriceHistory) -> Universe:
    have = set(history.symbols)
    majors = {"BTC", "ETH"}
    out = []
    for name in names:
        base, perp = (name.removesuffix("-USD-PERP"), True) if name.endswith("-USD-PERP") else (name, False)
        h, hs = margin_period(Kind.PERP if perp else Kind.SPOT, base), 0.0001 if base in majors else 0.0005
        proxy = None if base == "BTC" else "BTC"
        if perp:
            factor = f"{base}-PERP" if f"{base}-PERP" in have else base
            own = factor != base  # no perp series: it rides its spot series, plus the basis add-on
            out.append(Instrument(name, Kind.PERP, factor, h, hs, base if own else proxy, 0.0 if own else BASIS_ADDON))
        else:
            out.append(Instrument(name, Kind.SPOT, base, h, hs, proxy))
        if out[-1].factor not in have:
            raise ConfigError(f"instrument {name!r}: no price series {out[-1].factor!r} in the prices")
    return Universe(tuple(out))


def margin_report(book: Book, history: PriceHistory, config: MarginConfig | None = None) -> dict[str, Any]:
    """IM, MM, add-ons and collateral value of every member of ``book`` as of the last close."""
    cfg = config or MarginConfig()
    if book.tiers.size and (book.tiers.min() < 0 or book.tiers.max() >= len(cfg.tiers)):
        raise ConfigError(f"tier index must be in [0, {len(cfg.tiers)})")
    universe = _universe(book.instruments, history)
    coll = []
    for a in book.assets:
        if a in NUMERAIRES:
            coll.append(CollateralAsset(a, None))
        elif a in history.symbols:
            coll.append(CollateralAsset(a, a))
        else:
            raise ConfigError(f"collateral asset {a!r}: not a numeraire ({'/'.join(NUMERAIRES)}) nor a price series")
    factors = sorted({x.factor for x in universe.instruments} | {c.factor for c in coll if c.factor})
    needed = set(factors) | {"BTC"} | {f.removesuffix("-PERP") for f in factors}
    sub = history.select([s for s in history.symbols if s in needed])
    sc = ScenarioConfig()
    row = len(sub.dates) - 1
    scen = build_scenarios(filter_history(sub, default_proxies(sub.symbols), sc), row, factors, sc)
    model = build_model(scen, universe, cfg)
    hc = build_haircuts(scen, coll, cfg)
    marks = scen.price[scen.rows([x.factor for x in universe.instruments])]
    cprices = np.array([1.0 if c.factor is None else float(scen.price[scen.rows([c.factor])[0]]) for c in coll])
    pos = net_positions(
        len(book.members),
        np.array(book.pos_member, dtype=np.int64),
        np.array(book.pos_instrument, dtype=np.int64),
        np.array(book.pos_qty, dtype=np.float64),
        len(universe),
    )
    r = compute_margin(pos, marks, book.holdings, cprices, book.tiers, model, hc, cfg)
    members = [
        {
            "member": name,
            "tier": int(book.tiers[k]),
            "im": float(r.im[k]),
            "mm": float(r.mm[k]),
            "core": float(r.es_core[k]),
            "concentration_addon": float(r.concentration_addon[k]),
            "liquidity_addon": float(r.liquidity_addon[k]),
            "collateral_value": float(r.collateral_value[k]),
            "excess": float(r.excess[k]),
        }
        for k, name in enumerate(book.members)
    ]
    return {"asof": str(scen.asof), "marks": dict(zip(universe.names, marks.tolist(), strict=True)), "members": members}


def run_margin_command(positions: str, prices: list[str], perp: list[str] | None, as_json: bool) -> int:
    """`crossclear margin`: exit 0, or 2 with a message on stderr for a bad file."""
    try:
        book = parse_positions(positions)
        history = load_prices(prices, perp)
        rep = margin_report(book, history)
    except (RiskError, OSError) as exc:
        return _err(str(exc))
    if as_json:
        print(json.dumps(rep))
        return 0
    print(f"margin as of {rep['asof']} (USD)")
    print(
        f"{'member':16s} {'IM':>14s} {'MM':>14s} {'core ES':>14s} {'concentr.':>12s} {'liquidity':>12s}"
        f" {'collateral':>14s} {'excess':>14s}"
    )
    for m in rep["members"]:
        print(
            f"{m['member'][:16]:16s} {m['im']:14.2f} {m['mm']:14.2f} {m['core']:14.2f}"
            f" {m['concentration_addon']:12.2f} {m['liquidity_addon']:12.2f} {m['collateral_value']:14.2f}"
            f" {m['excess']:14.2f}"
        )
    return 0
