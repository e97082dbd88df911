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
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak
from numpy.typing import NDArray

from offchain.core.accounting import pow10
from offchain.core.bid import Bid, auctions_domain
from offchain.defaults.auction import Tranche, clear_tranche, penalty_bps, tranche_qty
from offchain.defaults.calls import MemberState, OpenCall, Verdict, call_amount, decide
from offchain.replay.setup import Setup, net
from offchain.replay.waterfall import LAYERS, Position, WaterfallState, cover
from offchain.risk.margin import compute_margin
from offchain.risk.tiers import im_multipliers

FloatArray = NDArray[np.float64]
EPS = 1e-6


@dataclass
class Estate:
    member: int
    auction: int  # the auction's id (1, 2, ... in order of default)
    q: FloatArray  # remaining position (= remaining / 10**qty_decimals)
    position: FloatArray  # the position at default
    at_declare: NDArray[np.int64]  # the position at default in quantity units (the engine's tranche base)
    remaining: NDArray[np.int64]  # what is left to close, in quantity units
    penalty: int  # bps the unbid remainder's price moves against the defaulter (the engine's penalty_bps)
    pnl: float  # defaulter's VM up to default + estate P&L since − close-out costs
    collateral: float  # haircut value seized at default (L1)
    contribution: float  # its default-fund contribution (L2)
    declared: FloatArray  # every member's contribution at the DECLARE (L4 shares, L5 weights and caps)
    declared_at: int  # epoch seconds of the DECLARE
    rounds: int  # tranche rounds cleared so far
    start: str

    def due(self, now: int, interval_s: int) -> bool:
        """The next round's tranches close `interval_s` after they open (the engine's house: the first opens at
        the DECLARE, each next one when the previous closed); the path clears what is due at each step."""
        return now >= self.declared_at + (self.rounds + 1) * interval_s

    @property
    def done(self) -> bool:
        return not self.remaining.any()


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
    bidders = Bidders.for_members(m_n)
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
        # ---- auctions: every round of tranches due by this step (all of them at the window's end), cleared by
        # the engine's clear_tranche at this step's marks, bidders' margin as of the previous step
        now = _epoch(t)
        for e in estates:
            while not e.done and (e.due(now, cfg.auction.interval_s) or k == n - 1):
                _auction_round(s, e, q, vm, live, eq, im, p, model, tier_mult, bidders, now, res)
        # ---- finished estates → waterfall
        for e in [e for e in estates if e.done]:
            estates.remove(e)
            operator_left = _waterfall(s, e, q, p, vm, upnl, live, contrib, assess_left, operator_left, res, str(t))
        # ---- margin
        r = compute_margin(q, p, holdings, cp, s.tier, model, dm.haircuts, mc)
        eq = r.collateral_value + vm
        im, mm = r.im, r.mm
        res.peak_im = max(res.peak_im, float(im[live].sum()))
        for mi in np.flatnonzero(live):
            m = int(mi)
            state = member_state(m, eq[m], holdings[m, 0], vm[m], im[m], mm[m], scale)
            open_call = calls[m]
            if open_call is not None and not answered[m] and now >= posted[m] + int(s.response_hours[m] * 3600):
                answered[m] = True
                pay = min(float(reserve[m]), (call_amount(state) + 1) / scale)
                if pay > 0:
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
                estates.append(
                    _default(
                        s,
                        m,
                        q,
                        upnl,
                        holdings,
                        vm,
                        contrib,
                        float(eq[m] - vm[m]),
                        float(r.liquidity_addon[m]),
                        p,
                        t,
                        len(res.defaults) + 1,
                        live,
                        res,
                    )
                )
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


def _epoch(t: np.datetime64) -> int:
    return int(t.astype("datetime64[s]").astype(np.int64))


#: The replay's bids are signed and checked like the engine's, under a domain of their own (no chain).
REPLAY_DOMAIN = auctions_domain(0, "0x" + "00" * 20)


@dataclass(frozen=True)
class Bidders:
    """One key per member: replay members bid with EIP-712 signed Bids, as members do at the engine's house."""

    keys: tuple[LocalAccount, ...]

    @classmethod
    def for_members(cls, n: int) -> Bidders:
        return cls(tuple(Account.from_key(keccak(text=f"crossclear replay bidder {m}")) for m in range(n)))

    def sign(self, m: int, bid: Bid) -> tuple[Bid, bytes]:
        return bid, bytes(self.keys[m].unsafe_sign_hash(Hash32(bid.digest(REPLAY_DOMAIN))).signature)

    def eligible(self, live: NDArray[np.bool_], defaulter: int) -> dict[str, int]:
        """Checksummed address -> member of the members allowed to bid (live, not the defaulter)."""
        return {self.keys[m].address: int(m) for m in np.flatnonzero(live) if m != defaulter}


def _default(
    s: Setup,
    m: int,
    q: FloatArray,
    upnl: FloatArray,
    holdings: FloatArray,
    vm: FloatArray,
    contrib: FloatArray,
    collateral_value: float,
    liquidity_addon_usd: float,
    p: FloatArray,
    t: np.datetime64,
    auction: int,
    live: NDArray[np.bool_],
    res: CrossclearResult,
) -> Estate:
    cfg = s.config
    live[m] = False
    res.defaults.append(s.names[m])
    res.events.append(
        {"t": str(t), "member": s.names[m], "event": "default", "collateral": collateral_value, "vm": float(vm[m])}
    )
    qscale, pscale = pow10(cfg.qty_decimals), pow10(s.market.margin_config.decimals)
    at_declare = np.round(q[m] * qscale).astype(np.int64)
    gross = int(np.ceil(float(np.abs(q[m]) @ p) * pscale))
    e = Estate(
        member=m,
        auction=auction,
        q=at_declare / qscale,
        position=q[m].copy(),
        at_declare=at_declare,
        remaining=at_declare.copy(),
        # the engine's rule at DECLARE: the liquidity add-on (rounded up) over the gross notional, capped at the
        # instruments' price band
        penalty=penalty_bps(math.ceil(liquidity_addon_usd * pscale), gross, cfg.auction, cfg.instrument_band_bps),
        pnl=float(vm[m]),
        collateral=max(float(collateral_value), 0.0),
        contribution=float(contrib[m]),
        declared=contrib.copy(),
        declared_at=_epoch(t),
        rounds=0,
        start=str(t),
    )
    q[m] = 0.0
    upnl[m] = 0.0
    holdings[m] = 0.0
    vm[m] = 0.0
    contrib[m] = 0.0  # written off against its own loss (L2), never a survivor's share
    return e


def _auction_round(
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
    bidders: Bidders,
    now: int,
    res: CrossclearResult,
) -> None:
    """One tranche of every instrument the estate still holds, sized and cleared by the engine's own
    :func:`~offchain.defaults.auction.tranche_qty` and :func:`~offchain.defaults.auction.clear_tranche` (band,
    ranking, the unbid rest to the house at the penalty). The bidders' behaviour is the replay's market model:
    each bidding member offers what taking the tranche reduces of its own opposite position plus a share of its
    excess over IM, at a concession of half spread + Y·σ·sqrt(q/ADV) (the square-root law on its own size)."""
    cfg = s.config
    qscale, pscale = pow10(cfg.qty_decimals), pow10(s.market.margin_config.decimals)
    names = [x.name for x in s.market.universe.instruments]
    hs = model.universe.half_spreads()
    spare = cfg.bid_excess_share * np.maximum(eq - im, 0.0)  # committable excess over IM (previous step)
    eligible = bidders.eligible(live & s.bidder, e.member)
    for i in np.flatnonzero(e.remaining):
        qty = tranche_qty(int(e.at_declare[i]), int(e.remaining[i]), cfg.auction.tranche_bps)
        sells = bool(e.remaining[i] > 0)  # the defaulter is long: it sells, bidders buy
        sign = 1.0 if sells else -1.0
        mark = round(float(p[i]) * pscale)
        tranche = Tranche(e.auction, e.rounds, names[i], e.member, sells, qty, mark)
        adv, sig = float(model.adv[i]), float(model.sigma[i])
        rate = max(float(model.es_long[i]), float(model.es_short[i]))
        res.tranches += 1
        res.offered_notional += qty / qscale * p[i]
        bids: list[tuple[Bid, bytes]] = []
        for cand in eligible.values():
            free = max(0.0, -sign * float(q[cand, i]))  # taking it reduces the bidder's own position
            extra = spare[cand] / (rate * tier_mult[cand] * p[i]) if rate > 0 else 0.0
            units = min(qty, math.floor(min(qty / qscale, free + extra) * qscale))
            if units <= 0 or adv <= 0:
                continue
            conc = hs[i] + cfg.impact_coeff * sig * math.sqrt(units / qscale / adv)
            # a buyer bids below the mark, a seller above (rounded in the bidder's favour)
            price = math.floor(mark * (1 - conc)) if sells else math.ceil(mark * (1 + conc))
            if price <= 0:
                continue
            bid = Bid(
                auction=e.auction,
                tranche=e.rounds,
                instrument=names[i],
                buy=sells,
                qty=units,
                price=price,
                bidder=bidders.keys[cand].address,
                expiry=now + cfg.auction.interval_s,
            )
            bids.append(bidders.sign(cand, bid))
        result = clear_tranche(tranche, bids, REPLAY_DOMAIN, now, eligible, cfg.auction, e.penalty)
        for award in result.awards:
            b, fill = award.account, award.qty / qscale
            cost = fill * abs(p[i] - award.price / pscale)  # the concession: the estate's cost, the winner's gain
            keep = min(fill, max(0.0, -sign * float(q[b, i])))
            q[b, i] += sign * keep  # the part that offsets its own position stays on its book
            vm[b] += keep / fill * cost  # the rest is laid off at once, the concession paying the impact
            spare[b] = max(0.0, spare[b] - fill * p[i] * rate * tier_mult[b])
            e.pnl -= cost
            res.bid_notional += fill * p[i]
            res.bid_concession_cost += cost
        if result.residual_qty:  # the house takes the rest at the mark moved by the penalty (and lays it off)
            fill = result.residual_qty / qscale
            pen = fill * abs(p[i] - result.residual_price / pscale)
            e.pnl -= pen
            res.unbid_notional += fill * p[i]
            res.unbid_penalty_cost += pen
        e.remaining[i] -= qty if sells else -qty
        e.q[i] = e.remaining[i] / qscale
    e.rounds += 1


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
    orig = e.position  # the defaulter's position at default
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
