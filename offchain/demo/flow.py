"""Venue flow: the trades each venue reports, generated from the members' strategies reacting to the path.

Every hour of the window, each member's strategy looks at the price moves and (for block buyers) at its
own free collateral on the vault, and trades with the market makers quoting on each venue:

* the DEX's retail pool buys dips and chases rallies on the DEX perpetuals (net long);
* the market makers take the other side (DEX maker on the DEX, CEX maker on the CEX and the OTC desk);
* the hedge fund sells the DEX's retail premium and buys the same amount back on the CEX: large gross
  positions on two venues that cancel out once cleared together;
* the foundation and the DAO hedge their ETH treasuries with short ETH blocks on the OTC desk;
* the family office buys BTC blocks on the OTC desk on dips, at 4.5× its free collateral each time: thinly capitalised.

Deterministic for a given seed. Prices are the hour's close with the taker paying the venue's half-spread.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from offchain.demo.history import Window
from offchain.demo.population import MemberProfile, Strategy

VENUE_SYMBOLS = {
    "dex-perp": {"BTC": "BTC-PERP", "ETH": "ETH-PERP"},
    "cex": {"BTC": "BTCUSDT", "ETH": "ETHUSDT"},
    "otc-desk": {"BTC": "XBT/USD", "ETH": "ETH/USD"},
}
HALF_SPREAD_BPS = {"dex-perp": 3.0, "cex": 1.0, "otc-desk": 8.0}
ETH_PER_BTC_SIZE = 15.0  # an ETH order is this many ETH per BTC of the same strategy's BTC order
BLOCK_LEVERAGE = 4.5  # the family office's block size: this multiple of its free collateral, in notional


@dataclass(frozen=True)
class Trade:
    venue: str
    underlying: str
    buyer: str  # member name
    seller: str
    qty: float  # whole units of the underlying, > 0
    price: float  # USD

    @property
    def symbol(self) -> str:
        return VENUE_SYMBOLS[self.venue][self.underlying]


class VenueFlow:
    def __init__(self, members: Sequence[MemberProfile], window: Window, seed: int = 7) -> None:
        self.members = list(members)
        self.window = window
        self.rng = random.Random(seed)
        by = {s: [m for m in members if m.strategy == s] for s in Strategy}
        makers = by[Strategy.DEX_MAKER] + by[Strategy.CEX_MAKER]
        self.dex_makers = by[Strategy.DEX_MAKER] or makers
        self.cex_makers = by[Strategy.CEX_MAKER] or makers

    def _ret(self, tick: int, underlying: str, lag: int = 1) -> float:
        if tick < lag:
            return 0.0
        return self.window.price(tick, underlying) / self.window.price(tick - lag, underlying) - 1.0

    def _trade(self, venue: str, underlying: str, taker: str, maker: str, qty: float, tick: int) -> Trade | None:
        """A taker order (qty > 0 buys, < 0 sells) filled by `maker` at the close ± the half-spread."""
        if taker == maker or abs(qty) < 1e-6:
            return None
        mid = self.window.price(tick, underlying)
        spread = HALF_SPREAD_BPS[venue] / 10_000
        if qty > 0:
            return Trade(venue, underlying, taker, maker, round(qty, 4), mid * (1 + spread))
        return Trade(venue, underlying, maker, taker, round(-qty, 4), mid * (1 - spread))

    def _maker(self, makers: Sequence[MemberProfile], tick: int) -> str:
        return makers[tick % len(makers)].name

    def trades(self, tick: int, free_collateral: Mapping[str, float]) -> list[Trade]:
        """This hour's trades. `free_collateral`: each member's free collateral on the vault, USD."""
        out: list[Trade | None] = []
        rng = self.rng
        for m in self.members:
            s = m.size
            if m.strategy == Strategy.RETAIL_FLOW:
                for u, scale in (("BTC", 1.0), ("ETH", ETH_PER_BTC_SIZE)):
                    r = self._ret(tick, u)
                    # Retail buys the dip hard and chases rallies; now and then it takes profit.
                    qty = s * scale * (0.6 + 35 * max(-r, 0.0) + 12 * max(r, 0.0)) * rng.uniform(0.6, 1.4)
                    if rng.random() < 0.2:
                        qty = -0.6 * qty
                    out.append(self._trade("dex-perp", u, m.name, self._maker(self.dex_makers, tick), qty, tick))
            elif m.strategy == Strategy.BASIS_ARB:
                for u, scale in (("BTC", 1.0), ("ETH", ETH_PER_BTC_SIZE)):
                    qty = s * scale * rng.uniform(0.4, 1.0)
                    out.append(self._trade("dex-perp", u, m.name, self._maker(self.dex_makers, tick), -qty, tick))
                    out.append(self._trade("cex", u, m.name, self._maker(self.cex_makers, tick + 1), qty, tick))
            elif m.strategy == Strategy.OTC_HEDGER and tick % 24 == 5:
                qty = -s * 150 * rng.uniform(0.8, 1.2)
                out.append(self._trade("otc-desk", "ETH", m.name, self._maker(self.cex_makers, tick), qty, tick))
            elif m.strategy == Strategy.TREASURY and tick == 2:
                out.append(self._trade("otc-desk", "ETH", m.name, self._maker(self.cex_makers, tick), -s * 120, tick))
            elif m.strategy == Strategy.OTC_BUYER and tick % 6 == 3 and self._ret(tick, "BTC", 3) < 0.01:
                room = free_collateral.get(m.name, 0.0)
                if room > 10_000:
                    qty = s * BLOCK_LEVERAGE * room / self.window.price(tick, "BTC")
                    out.append(self._trade("otc-desk", "BTC", m.name, self._maker(self.cex_makers, tick), qty, tick))
            # market makers quote: they trade only as the other side
        return [t for t in out if t is not None]
