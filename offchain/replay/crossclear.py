"""The crossclear policy over a price path (a simulation of issue 6 items 1-3, not the live engine).

Every step: variation margin at the new marks; default estates marked and, when a tranche is due,
auctioned; finished estates covered by the waterfall L1-L7; then every surviving member re-margined by the
risk engine on its positions **netted across venues** (:func:`offchain.risk.margin.compute_margin`, scenario
set as of the previous daily close), and margin calls issued, answered or turned into defaults:

* every call, cure and default is the engine's own decision (:func:`offchain.defaults.calls.decide` under the
  engine's :class:`~offchain.defaults.calls.CallPolicy`), on the member as the vault would see it, converted
  to settlement base units at the boundary (equity and cash rounded down, IM, MM and debt up: against the
  member): a call when equity < MM or the member owes an advance (its VM debits beyond its cash), for
  ``max(IM - equity, debt)``; a deep breach shortens the cure; cure when equity ≥ IM with no debt; default at
  the first step at or after an uncured deadline;
* the member answers each call (and each raise of it) after its ``response_hours`` with
  ``min(reserve, what the call asks at that moment)`` in the settlement asset.

A defaulter's positions go to its estate and are closed in ``n_tranches`` equal tranches by an auction:
each bidding member offers what its opposite position plus its excess over IM can carry, at a concession
``half_spread + Y·σ·sqrt(q/ADV)`` (the square-root law on its own bid size); bids outside the price band
are rejected, the best win and take the position; the unbid rest is closed against the mark with the
liquidity add-on (the risk engine's formula) as penalty. A winner keeps the part of its fill that offsets
its own opposite position (earning the concession on it) and lays the rest off in the market at once (the
concession pays that impact: no P&L, no position); its excess over IM limits what it can carry meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from offchain.core.accounting import pow10
from offchain.defaults.calls import MemberState, OpenCall, Verdict, call_amount, decide
from offchain.replay.setup import Setup, net
from offchain.replay.waterfall import LAYERS, Position, WaterfallState, cover
from offchain.risk.addons import liquidity_addon
from offchain.risk.margin import compute_margin
from offchain.risk.tiers import im_multipliers

FloatArray = NDArray[np.float64]
EPS = 1e-6


@dataclass
class Estate:
    member: int
    q: FloatArray  # remaining position
    tranche: FloatArray  # per-tranche quantity (signed like the position)
    pnl: float  # defaulter's VM up to default + estate P&L since − close-out costs
    collateral: float  # haircut value seized at default (L1)
    contribution: float  # its default-fund contribution (L2)
    declared: FloatArray  # every member's contribution at the DECLARE (L4 shares, L5 weights and caps)
    next_time: np.datetime64
    left: int
    start: str


@dataclass(frozen=True)
class StepDecision:
    """One member at one step, as the engine's :func:`~offchain.defaults.calls.decide` saw and judged it."""

    now: int  # epoch seconds of the step
    state: MemberState  # settlement base units, rounded against the member
    before: OpenCall | None  # the open call before the step
    verdict: Verdict
    after: OpenCall | None  # the open call after the step (None: none, or declared in default)


@dataclass
class CrossclearResult:
    margin_calls: int = 0
    raises: int = 0  # an open call re-posted (amount up or deadline brought forward)
    cures: int = 0
    open_calls_at_end: int = 0
    defaults: list[str] = field(default_factory=list)
    tranches: int = 0
    offered_notional: float = 0.0
    bid_notional: float = 0.0
    unbid_notional: float = 0.0
    bid_concession_cost: float = 0.0
    unbid_penalty_cost: float = 0.0
    layers: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LAYERS, 0.0))
    uncovered: float = 0.0
    adl_count: int = 0
    default_fund: float = 0.0
    operator_capital: float = 0.0
    peak_im: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[StepDecision] = field(default_factory=list)  # every member at every step, in order

    @property
    def adl_amount(self) -> float:
        return self.layers["L7_adl"]

    @property
    def socialised_losses(self) -> float:
        """Losses borne by surviving members: L4 + L5 + L6 + L7."""
        return sum(self.layers[k] for k in LAYERS[3:])


def run_crossclear(s: Setup) -> CrossclearResult:
    cfg, mk = s.config, s.market
    mc = mk.margin_config
    m_n = len(s.names)
    q = net(s.qv)
    holdings = s.holdings.copy()
    vm = np.zeros(m_n)
    upnl = np.zeros_like(q)  # per-position P&L since the window's start (the ADL profit of L7)
    reserve = s.reserve.copy()
    contrib = s.contributions.copy()
    assess_left = cfg.assessment_multiple * s.contributions
    operator_left = s.operator_capital
    live = np.ones(m_n, dtype=bool)
    calls: list[OpenCall | None] = [None] * m_n  # the open call per member, as the engine holds it
    posted = np.zeros(m_n, dtype=np.int64)  # when the open call was last (re)posted, epoch seconds
    answered = np.zeros(m_n, dtype=bool)  # the member has answered the call as last posted
    scale = pow10(mc.decimals)
    estates: list[Estate] = []
    res = CrossclearResult(default_fund=s.default_fund, operator_capital=s.operator_capital)
    tier_mult = im_multipliers(mc.tiers, s.tier)
    eq = np.zeros(m_n)
    im = np.zeros(m_n)
    p_prev = mk.prices(0)
    n = mk.n_steps
    for k in range(n):
        t = mk.path.times[k]
        p = mk.prices(k)
        cp = mk.collateral_prices(k)
        dm = mk.model_for(k)
        model = dm.model
        dp = p - p_prev
        p_prev = p
        vm += q @ dp
        upnl += q * dp
        for e in estates:
            e.pnl += float(e.q @ dp)
        # ---- auctions of due tranches (bidders' margin as of the previous step)
        for e in estates:
            while e.left > 0 and (t >= e.next_time or k == n - 1):
                _tranche(s, e, q, vm, live, eq, im, p, model, tier_mult, res)
                e.left -= 1
                e.next_time = e.next_time + np.timedelta64(int(cfg.tranche_hours * 60), "m")
                if k < n - 1:
                    break
        # ---- finished estates → waterfall
        for e in [e for e in estates if e.left == 0]:
            estates.remove(e)
            operator_left = _waterfall(s, e, q, p, vm, upnl, live, contrib, assess_left, operator_left, res, str(t))
        # ---- margin
        r = compute_margin(q, p, holdings, cp, s.tier, model, dm.haircuts, mc)
        eq = r.collateral_value + vm
        im, mm = r.im, r.mm
        res.peak_im = max(res.peak_im, float(im[live].sum()))
        now = int(t.astype("datetime64[s]").astype(np.int64))
        for mi in np.flatnonzero(live):
            m = int(mi)
            state = member_state(m, eq[m], holdings[m, 0], vm[m], im[m], mm[m], scale)
            open_call = calls[m]
            if open_call is not None and not answered[m] and now >= posted[m] + int(s.response_hours[m] * 3600):
                answered[m] = True
                pay = min(float(reserve[m]), (call_amount(state) + 1) / scale)
                reserve[m] -= pay
                holdings[m, 0] += pay
                eq[m] += pay
                res.events.append({"t": str(t), "member": s.names[m], "event": "top_up", "amount": pay})
                state = member_state(m, eq[m], holdings[m, 0], vm[m], im[m], mm[m], scale)
            d = decide(state, open_call, now, s.config.calls)
            res.decisions.append(StepDecision(now, state, open_call, d.verdict, d.call))
            calls[m] = d.call
            if d.verdict in (Verdict.ISSUE, Verdict.RAISE):
                assert d.call is not None
                posted[m], answered[m] = now, False
                if d.verdict is Verdict.ISSUE:
                    res.margin_calls += 1
                else:
                    res.raises += 1
                res.events.append(_call_event(str(t), s.names[m], d.verdict, state, d.call, scale))
            elif d.verdict is Verdict.CURE:
                res.cures += 1
                res.events.append({"t": str(t), "member": s.names[m], "event": "cure"})
            elif d.verdict is Verdict.DEFAULT:
                calls[m] = None
                # the seized collateral: its haircut value now, top-ups of this step included
                estates.append(_default(s, m, q, upnl, holdings, vm, contrib, float(eq[m] - vm[m]), t, live, res))
    res.open_calls_at_end = sum(1 for m in range(m_n) if live[m] and calls[m] is not None)
    return res


def member_state(account: int, equity: float, cash: float, vm: float, im: float, mm: float, scale: int) -> MemberState:
    """The member as the vault would see it, in settlement base units (``scale`` per USD), rounded against the
    member: equity down; IM, MM and debt up. VM is paid in the settlement asset: a cumulative VM debit beyond
    the member's cash would have been advanced by the default fund, which is debt (and counts in equity)."""
    debt = math.ceil(max(0.0, -(cash + vm)) * scale)
    return MemberState(
        account=account,
        equity=math.floor(equity * scale),
        debt=debt,
        im=math.ceil(max(im, 0.0) * scale),
        mm=math.ceil(max(mm, 0.0) * scale),
    )


def _call_event(t: str, name: str, verdict: Verdict, m: MemberState, call: OpenCall, scale: int) -> dict[str, Any]:
    return {
        "t": t,
        "member": name,
        "event": "margin_call" if verdict is Verdict.ISSUE else "call_raised",
        "amount": call.amount / scale,
        "deadline": call.deadline,
        "deep": call.deep,
        "state": {"equity": m.equity, "debt": m.debt, "im": m.im, "mm": m.mm},
    }


def _default(
    s: Setup,
    m: int,
    q: FloatArray,
    upnl: FloatArray,
    holdings: FloatArray,
    vm: FloatArray,
    contrib: FloatArray,
    collateral_value: float,
    t: np.datetime64,
    live: NDArray[np.bool_],
    res: CrossclearResult,
) -> Estate:
    cfg = s.config
    live[m] = False
    res.defaults.append(s.names[m])
    res.events.append(
        {"t": str(t), "member": s.names[m], "event": "default", "collateral": collateral_value, "vm": float(vm[m])}
    )
    e = Estate(
        member=m,
        q=q[m].copy(),
        tranche=q[m] / cfg.n_tranches,
        pnl=float(vm[m]),
        collateral=max(float(collateral_value), 0.0),
        contribution=float(contrib[m]),
        declared=contrib.copy(),
        next_time=t + np.timedelta64(int(cfg.tranche_hours * 60), "m"),
        left=cfg.n_tranches,
        start=str(t),
    )
    q[m] = 0.0
    upnl[m] = 0.0
    holdings[m] = 0.0
    vm[m] = 0.0
    contrib[m] = 0.0  # written off against its own loss (L2), never a survivor's share
    return e


def _tranche(
    s: Setup,
    e: Estate,
    q: FloatArray,
    vm: FloatArray,
    live: NDArray[np.bool_],
    eq: FloatArray,
    im: FloatArray,
    p: FloatArray,
    model: Any,
    tier_mult: FloatArray,
    res: CrossclearResult,
) -> None:
    cfg = s.config
    hs = model.universe.half_spreads()
    tr = e.tranche if e.left > 1 else e.q.copy()
    res.tranches += 1
    spare = cfg.bid_excess_share * np.maximum(eq - im, 0.0)  # committable excess over IM (previous step)
    for i in np.flatnonzero(np.abs(tr) > 0):
        want, sign = abs(float(tr[i])), float(np.sign(tr[i]))
        adv, sig = float(model.adv[i]), float(model.sigma[i])
        rate = max(float(model.es_long[i]), float(model.es_short[i]))
        res.offered_notional += want * p[i]
        bids: list[tuple[float, int, float]] = []
        for cand in np.flatnonzero(live & s.bidder):
            free = max(0.0, -sign * float(q[cand, i]))  # taking it reduces the bidder's own position
            extra = spare[cand] / (rate * tier_mult[cand] * p[i]) if rate > 0 else 0.0
            qb = min(want, free + extra)
            if qb <= EPS or adv <= 0:
                continue
            conc = hs[i] + cfg.impact_coeff * sig * float(np.sqrt(qb / adv))
            if conc <= cfg.price_band:
                bids.append((conc, int(cand), qb))
        left = want
        for conc, b, qb in sorted(bids):
            if left <= EPS:
                break
            fill = min(qb, left)
            cost = fill * p[i] * conc
            keep = min(fill, max(0.0, -sign * float(q[b, i])))
            q[b, i] += sign * keep  # the part that offsets its own position stays on its book
            vm[b] += keep * p[i] * conc  # the rest is laid off at once, the concession paying the impact
            spare[b] = max(0.0, spare[b] - fill * p[i] * rate * tier_mult[b])
            e.pnl -= cost
            res.bid_notional += fill * p[i]
            res.bid_concession_cost += cost
            left -= fill
        if left > EPS:
            pos = np.zeros((1, len(p)))
            pos[0, i] = left
            pen = float(liquidity_addon(pos, p, hs, model.sigma, model.adv, cfg.impact_coeff)[0])
            e.pnl -= pen
            res.unbid_notional += left * p[i]
            res.unbid_penalty_cost += pen
        e.q[i] -= tr[i]


def _waterfall(
    s: Setup,
    e: Estate,
    q: FloatArray,
    p: FloatArray,
    vm: FloatArray,
    upnl: FloatArray,
    live: NDArray[np.bool_],
    contrib: FloatArray,
    assess_left: FloatArray,
    operator_left: float,
    res: CrossclearResult,
    t: str,
) -> float:
    """Cover a closed estate with the core waterfall (:func:`offchain.replay.waterfall.cover`); apply the
    draws to the survivors' contributions, assessment budgets and VM; return the operator capital left."""
    surv = live.copy()
    orig = e.tranche * s.config.n_tranches  # the defaulter's position at default
    names = [x.name for x in s.market.universe.instruments]
    adl = [
        Position(int(m), names[i], float(q[m, i] * p[i]), float(upnl[m, i]))
        for m in np.flatnonzero(surv)
        for i in np.flatnonzero(q[m] * orig < 0)  # survivors holding the opposite side
    ]
    c = cover(
        WaterfallState(
            defaulter=e.member,
            loss=max(0.0, -e.pnl),
            collateral=e.collateral,
            contribution=e.contribution,
            operator_capital=operator_left,
            contributions=np.where(surv, contrib, 0.0),
            declared=np.where(surv, e.declared, 0.0),
            assessment_budget=np.where(surv, assess_left, 0.0),
            vm_gains=np.where(surv, np.maximum(vm, 0.0), 0.0),
            adl=adl,
        ),
        s.market.margin_config.decimals,
    )
    np.maximum(contrib - c.survivors_fund, 0.0, out=contrib)
    assess_left -= c.assessments
    vm -= c.assessments + c.vm_haircuts + c.adl
    res.adl_count += c.adl_count
    for name, x in c.layers.items():
        res.layers[name] += x
    res.uncovered += c.uncovered
    res.events.append(
        {
            "t": t,
            "member": s.names[e.member],
            "event": "waterfall",
            "loss": c.loss,
            "layers": c.layers,
            "uncovered": c.uncovered,
            "adl_count": c.adl_count,
        }
    )
    return operator_left - c.layers["L3_operator_capital"]
