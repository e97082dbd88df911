"""The venue-only alternative: each venue margins and liquidates its members' positions on it alone.

Each member's capital is split across its venues pro rata to their initial margins at the first step (no
cross-venue offsets: a hedge on another venue does not count). Every step:

* VM on every venue account; MM per account = the bracket rule on each position (``bracket_mm``);
* a member whose venue equity falls below ``warning_ratio × MM`` tops the account up to the venue IM
  (``im_to_mm × MM``) after its ``response_hours``, from its reserve, then from its other venues' equity
  above their IM;
* an account below MM is liquidated at once, whole, into that venue's own book: the cost is the half
  spread plus square-root impact on the venue's depth (``ADV × volume_share``), the risk engine's
  liquidity formula; any equity left pays the liquidation fee into the venue's insurance fund; a deficit
  is covered by the insurance fund, then by ADL: the opposite positions on that venue, ranked by profit %
  × effective leverage (the exchanges' published ranking), are closed against the bankrupt one at its
  bankruptcy price, each bearing the deficit pro rata to the quantity it takes. Quantity beyond the
  population's opposite positions hits traders outside the population (counted as one ADL event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from offchain.replay.setup import Setup, venue_mm
from offchain.risk.addons import liquidity_addon

FloatArray = NDArray[np.float64]
EPS = 1e-6


@dataclass
class VenueOnlyResult:
    liquidations: int = 0
    defaults: list[str] = field(default_factory=list)  # bankrupt accounts ("member@venue")
    slippage_cost: float = 0.0
    fees_to_insurance: float = 0.0
    insurance_fund_start: float = 0.0
    layers: dict[str, float] = field(
        default_factory=lambda: {"L1_defaulter_collateral": 0.0, "insurance_fund": 0.0, "adl": 0.0}
    )
    adl_count: int = 0
    adl_outside_amount: float = 0.0
    topups: int = 0
    transfers: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def adl_amount(self) -> float:
        return self.layers["adl"]

    @property
    def socialised_losses(self) -> float:
        """Losses borne by other traders: the ADL amount."""
        return self.layers["adl"]


def run_venue_only(s: Setup) -> VenueOnlyResult:
    cfg, mk = s.config, s.market
    pop = s.population
    v_n, m_n, _ = s.qv.shape
    qv = s.qv.copy()
    p0 = mk.prices(0)
    share = s.venue_im0 / np.maximum(s.venue_im0.sum(axis=0, keepdims=True), EPS)  # (V, M)
    no_im = s.venue_im0.sum(axis=0) <= 0
    share[:, no_im] = 1.0 / v_n
    coll_qty = share[:, :, None] * s.holdings[None, :, :]  # (V, M, A)
    cash = np.zeros((v_n, m_n))  # VM, transfers, fees: settled in USD
    reserve = s.reserve.copy()
    insurance = s.insurance0.copy()
    res = VenueOnlyResult(insurance_fund_start=float(insurance.sum()))
    pending: dict[tuple[int, int], np.datetime64] = {}
    volume_share = np.array([v.volume_share for v in pop.venues])
    p_prev = p0
    for k in range(mk.n_steps):
        t = mk.path.times[k]
        p = mk.prices(k)
        cp = mk.collateral_prices(k)
        model = mk.model_for(k).model
        cash += qv @ (p - p_prev)
        p_prev = p
        eq = (coll_qty * cp).sum(axis=2) + cash
        mm = venue_mm(qv, p, cfg)
        has = np.abs(qv).sum(axis=2) > 0
        for v, m in zip(*np.nonzero(has & (eq < cfg.warning_ratio * mm)), strict=True):
            pending.setdefault((int(v), int(m)), t)
        for (v, m), since in list(pending.items()):
            if not has[v, m] or eq[v, m] >= cfg.warning_ratio * mm[v, m]:
                del pending[(v, m)]
                continue
            if t < since + np.timedelta64(int(s.response_hours[m] * 60), "m"):
                continue
            del pending[(v, m)]
            need = cfg.im_to_mm * mm[v, m] - eq[v, m]
            take = min(reserve[m], need)
            reserve[m] -= take
            got = take
            for w in range(v_n):
                if w == v or got >= need - EPS:
                    continue
                free = eq[w, m] - cfg.im_to_mm * mm[w, m]
                if free > 0:
                    move = min(free, need - got)
                    cash[w, m] -= move
                    eq[w, m] -= move
                    got += move
                    res.transfers += move
            cash[v, m] += got
            eq[v, m] += got
            res.topups += 1
            res.events.append(
                {
                    "t": str(t),
                    "member": pop.members[m].name,
                    "venue": pop.venues[v].name,
                    "event": "topup",
                    "amount": float(got),
                }
            )
        for v, m in zip(*np.nonzero(has & (eq < mm - EPS)), strict=True):
            _liquidate(s, int(v), int(m), qv, cash, coll_qty, eq, p, p0, model, volume_share, insurance, res, str(t))
    return res


def _liquidate(
    s: Setup,
    v: int,
    m: int,
    qv: FloatArray,
    cash: FloatArray,
    coll_qty: FloatArray,
    eq: FloatArray,
    p: FloatArray,
    p0: FloatArray,
    model: Any,
    volume_share: FloatArray,
    insurance: FloatArray,
    res: VenueOnlyResult,
    t: str,
) -> None:
    cfg = s.config
    pos = qv[v, m].copy()
    hs = model.universe.half_spreads()
    cost = float(liquidity_addon(pos[None, :], p, hs, model.sigma, model.adv * volume_share[v], cfg.impact_coeff)[0])
    notional = float(np.abs(pos * p).sum())
    after = float(eq[v, m]) - cost
    res.liquidations += 1
    res.slippage_cost += cost
    name = f"{s.names[m]}@{s.population.venues[v].name}"
    qv[v, m] = 0.0
    ev: dict[str, Any] = {
        "t": t,
        "account": name,
        "event": "liquidation",
        "notional": notional,
        "equity": float(eq[v, m]),
        "cost": cost,
    }
    if after >= 0:
        fee = min(after, s.population.venues[v].liquidation_fee * notional)
        insurance[v] += fee
        res.fees_to_insurance += fee
        cash[v, m] -= cost + fee
        res.events.append(ev)
        return
    deficit = -after
    res.defaults.append(name)
    res.layers["L1_defaulter_collateral"] += max(float(eq[v, m]), 0.0)
    from_if = min(float(insurance[v]), deficit)
    insurance[v] -= from_if
    res.layers["insurance_fund"] += from_if
    rest = deficit - from_if
    coll_qty[v, m] = 0.0
    cash[v, m] = 0.0
    ev.update(deficit=deficit, insurance=from_if, adl=rest)
    res.events.append(ev)
    if rest <= EPS:
        return
    res.layers["adl"] += rest
    weights = np.abs(pos * p)
    for i in np.flatnonzero(pos != 0):
        amount_i = rest * float(weights[i] / weights.sum())
        want = abs(float(pos[i]))
        cands = [c for c in range(qv.shape[1]) if c != m and qv[v, c, i] * pos[i] < 0]
        ranked = sorted(cands, key=lambda c: (-_adl_score(qv[v, c, i], p[i], p0[i], eq[v, c]), c))
        left = want
        for c in ranked:
            take = min(abs(float(qv[v, c, i])), left)
            cash[v, c] -= amount_i * take / want
            qv[v, c, i] -= np.sign(qv[v, c, i]) * take
            res.adl_count += 1
            left -= take
            if left <= EPS:
                break
        if left > EPS:
            res.adl_outside_amount += amount_i * left / want
            res.adl_count += 1


def _adl_score(qty: float, price: float, entry: float, equity: float) -> float:
    """The exchanges' ADL ranking key: profit % × effective leverage (higher is deleveraged first)."""
    pnl_pct = float(qty * (price - entry)) / max(abs(float(qty * entry)), EPS)
    return pnl_pct * abs(float(qty * price)) / max(float(equity), EPS)
