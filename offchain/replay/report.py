"""Replay results as one JSON object, a text summary and markdown tables (docs/stress-replays.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from offchain.replay.engine import ReplayResult
from offchain.replay.waterfall import LAYERS, MUTUALISED


def _r(x: float) -> float:
    return round(float(x), 2)


def to_json(r: ReplayResult, *, events: bool = False) -> dict[str, Any]:
    """The issue's keys for both policies: defaults, each layer's amount, ``adl_count``, ``adl_amount``."""
    s, cc, vo = r.setup, r.crossclear, r.venue_only
    cc_out: dict[str, Any] = {
        "margin_calls": cc.margin_calls,
        "cures": cc.cures,
        "raises": cc.raises,
        "open_calls_at_end": cc.open_calls_at_end,
        "defaults": len(cc.defaults),
        "defaulters": list(cc.defaults),
        "auctions": {
            "tranches": cc.tranches,
            "offered_notional": _r(cc.offered_notional),
            "bid_notional": _r(cc.bid_notional),
            "unbid_notional": _r(cc.unbid_notional),
            "bid_concession_cost": _r(cc.bid_concession_cost),
            "unbid_penalty_cost": _r(cc.unbid_penalty_cost),
        },
        "layers": {k: _r(v) for k, v in cc.layers.items()},
        "mutualised_layers_used": [k for k in MUTUALISED if cc.layers[k] > 0],
        "default_fund": _r(cc.default_fund),
        "operator_capital": _r(cc.operator_capital),
        "adl_count": cc.adl_count,
        "adl_amount": _r(cc.adl_amount),
        "socialised_losses": _r(cc.socialised_losses),
        "uncovered": _r(cc.uncovered),
        "external_exposure": 0.0,
    }
    vo_out: dict[str, Any] = {
        "liquidations": vo.liquidations,
        "defaults": len(vo.defaults),
        "defaulters": list(vo.defaults),
        "slippage_cost": _r(vo.slippage_cost),
        "topups": vo.topups,
        "insurance_fund_start": _r(vo.insurance_fund_start),
        "fees_to_insurance": _r(vo.fees_to_insurance),
        "layers": {k: _r(v) for k, v in vo.layers.items()},
        "adl_count": vo.adl_count,
        "adl_amount": _r(vo.adl_amount),
        "adl_outside_population": _r(vo.adl_outside_amount),
        "socialised_losses": _r(vo.socialised_losses),
    }
    if events:
        cc_out["events"] = _clean(cc.events)
        vo_out["events"] = _clean(vo.events)
    members = [
        {
            "name": n,
            "kind": s.population.members[m].kind,
            "capital": _r(s.capital[m]),
            "reserve": _r(s.reserve[m]),
            "crossclear_im": _r(s.cc_im0[m]),
            "venue_im": _r(s.venue_im0[:, m].sum()),
            "df_contribution": _r(s.contributions[m]),
        }
        for m, n in enumerate(s.names)
    ]
    return {
        "window": {"from": r.window[0], "to": r.window[1], "steps": r.steps, "step_hours": r.step_hours},
        "members": members,
        "crossclear": cc_out,
        "venue_only": vo_out,
        "seconds": round(r.seconds, 3),
    }


def _clean(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, str | int | bool) or v is None:
            return v
        return _r(v)

    return [conv(e) for e in events]


def _m(x: float) -> str:
    """USD millions, 2 decimals; '0' when exactly zero."""
    return "0" if x == 0 else f"{x / 1e6:,.2f}"


def text_summary(r: ReplayResult) -> str:
    j = to_json(r)
    cc, vo = j["crossclear"], j["venue_only"]
    lines = [
        f"replay {r.window[0]} → {r.window[1]}: {r.steps} steps of {r.step_hours} h, {r.seconds:.2f} s",
        f"crossclear: {cc['margin_calls']} margin calls, {cc['cures']} cures, {cc['raises']} raised, "
        f"{cc['defaults']} defaults {cc['defaulters']}",
        f"  auctions: {cc['auctions']['tranches']} tranches, bid {_m(cc['auctions']['bid_notional'])}M / "
        f"unbid {_m(cc['auctions']['unbid_notional'])}M, cost {_m(cc['auctions']['bid_concession_cost'])}M + "
        f"{_m(cc['auctions']['unbid_penalty_cost'])}M",
        f"  default fund {_m(cc['default_fund'])}M, operator capital {_m(cc['operator_capital'])}M",
        "  waterfall (USD M): " + ", ".join(f"{k} {_m(v)}" for k, v in cc["layers"].items()),
        f"  ADL {cc['adl_count']} / {_m(cc['adl_amount'])}M, socialised {_m(cc['socialised_losses'])}M, "
        f"uncovered {_m(cc['uncovered'])}M, external exposure 0",
        f"venue-only: {vo['liquidations']} liquidations, {vo['defaults']} bankrupt accounts {vo['defaulters']}, "
        f"slippage {_m(vo['slippage_cost'])}M",
        "  losses (USD M): " + ", ".join(f"{k} {_m(v)}" for k, v in vo["layers"].items()),
        f"  insurance funds {_m(vo['insurance_fund_start'])}M at start (+{_m(vo['fees_to_insurance'])}M fees); "
        f"ADL {vo['adl_count']} / {_m(vo['adl_amount'])}M, socialised {_m(vo['socialised_losses'])}M",
    ]
    return "\n".join(lines)


def markdown_tables(rows: Sequence[tuple[str, ReplayResult]]) -> str:
    """The side-by-side summary, then the crossclear and the venue-only detail, one row per replay."""
    out = [
        "| window | candles | crossclear defaults | mutualised (L4-L7) | crossclear ADL (n / USD M) | "
        "venue-only bankrupt accounts | insurance funds used (USD M) | venue-only ADL (n / USD M) | run (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows:
        cc, vo = r.crossclear, r.venue_only
        mut = sum(cc.layers[k] for k in MUTUALISED)
        out.append(
            f"| {label} | {r.steps} × {r.step_hours} h | {len(cc.defaults)} | {_m(mut)} | {cc.adl_count} / "
            f"{_m(cc.adl_amount)} | {len(vo.defaults)} | {_m(vo.layers['insurance_fund'])} | {vo.adl_count} / "
            f"{_m(vo.adl_amount)} | {r.seconds:.1f} |"
        )
    out += [
        "",
        "**crossclear** (USD millions; L1 defaulter's collateral, L2 its default-fund contribution, L3",
        "operator capital, L4 survivors' fund, L5 assessments, L6 VM-gains haircut, L7 ADL; external exposure is 0",
        "in every row)",
        "",
        "| window | margin calls | raised | cures | defaults | default fund | tranches | bid / unbid notional | "
        "close-out cost | " + " | ".join(k.split("_")[0] for k in LAYERS) + " | uncovered | external |",
        "|" + "---|" * (10 + len(LAYERS) + 1),
    ]
    for label, r in rows:
        cc = r.crossclear
        out.append(
            f"| {label} | {cc.margin_calls} | {cc.raises} | {cc.cures} | {len(cc.defaults)} "
            f"({', '.join(cc.defaults) or '—'}) | {_m(cc.default_fund)} | {cc.tranches} | {_m(cc.bid_notional)} / "
            f"{_m(cc.unbid_notional)} | {_m(cc.bid_concession_cost + cc.unbid_penalty_cost)} | "
            + " | ".join(_m(cc.layers[k]) for k in LAYERS)
            + f" | {_m(cc.uncovered)} | 0 |"
        )
    out += [
        "",
        "**venue-only** (USD millions; defaults = liquidations that left a deficit; socialised = ADL)",
        "",
        "| window | liquidations | defaults | slippage | defaulters' equity | insurance funds (start / used) | "
        "ADL count | ADL amount | of which outside the population | socialised |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows:
        vo = r.venue_only
        out.append(
            f"| {label} | {vo.liquidations} | {len(vo.defaults)} ({', '.join(vo.defaults) or '—'}) | "
            f"{_m(vo.slippage_cost)} | {_m(vo.layers['L1_defaulter_collateral'])} | {_m(vo.insurance_fund_start)} / "
            f"{_m(vo.layers['insurance_fund'])} | {vo.adl_count} | {_m(vo.adl_amount)} | "
            f"{_m(vo.adl_outside_amount)} | {_m(vo.socialised_losses)} |"
        )
    return "\n".join(out) + "\n"
