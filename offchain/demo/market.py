"""The market the demo replays: the window's real hourly marks and funding fixings, published as a price
feed would, and the venues' fills from the members' strategies, signed with each venue's key and sent
through the real ingest."""

from __future__ import annotations

from collections.abc import Sequence

from eth_account import Account

from offchain.core.fills import Fill, fills_domain
from offchain.demo.flow import Trade, VenueFlow
from offchain.demo.history import Window
from offchain.demo.observer import Journal
from offchain.demo.population import MemberProfile
from offchain.demo.world import INSTRUMENT, QTY, USD, World
from offchain.ingest.service import AckStatus
from offchain.ledger.prices import record_funding, record_price


class Market:
    def __init__(
        self, world: World, window: Window, population: Sequence[MemberProfile], seed: int, journal: Journal
    ) -> None:
        self.world, self.window, self.journal = world, window, journal
        self.flow = VenueFlow(population, window, seed)
        self.makers = {m.name for m in population if m.strategy in ("dex_maker", "cex_maker")}
        self.venue_keys = {v.name: v.key for v in world.spec.venues}

    def publish_marks(self, k: int, now: int, funding: bool = True) -> None:
        """Hour `k`'s marks (and, once per hour, its funding fixings), stamped `now` (chain seconds)."""
        with self.world.db.begin() as conn:
            for u, instrument in INSTRUMENT.items():
                price = round(self.window.price(k, u) * USD)
                record_price(conn, instrument, price, now * 1000, "demo-history")
                # Collateral index: the perpetual's close stands in for spot (the shipped hourly file is perps).
                record_price(conn, u, price, now * 1000, "demo-history")
            for hour, u, rate in self.window.funding:
                if funding and hour == k:
                    record_funding(conn, INSTRUMENT[u], now * 1000, round(rate * 10**8))

    def trades(self, k: int) -> list[Trade]:
        """The members' strategies' trades of hour `k`; called and defaulted members' venues send none (ingest
        would refuse them: close-only, or closed out by the auction)."""
        w = self.world
        free = {n: w.vault.free_collateral(m.account) / USD for n, m in w.members.items()}
        return [tr for tr in self.flow.trades(k, free) if w.active(tr.buyer) and w.active(tr.seller)]

    def submit(self, trades: list[Trade], now: int, k: int) -> None:
        """Each venue signs its fills (EIP-712) and sends them through ingest."""
        if not trades:
            return
        w = self.world
        domain = fills_domain(w.spec.chain_id, w.spec.vault)
        items: list[tuple[Fill, bytes]] = []
        for n, tr in enumerate(trades):
            fill = Fill(
                venue=tr.venue,
                venue_fill_id=f"{tr.venue}-{k}-{n}",
                symbol=tr.symbol,
                buyer=w.members[tr.buyer].spec.address,
                seller=w.members[tr.seller].spec.address,
                qty=round(tr.qty * QTY),
                price=round(tr.price * USD),
                ts=now * 1000,
            )
            sig = bytes(Account.unsafe_sign_hash(fill.digest(domain), self.venue_keys[tr.venue]).signature)
            items.append((fill, sig))
        record = self.journal.record
        for (fill, _), ack in zip(items, w.ingestor.submit_many(items), strict=True):
            if ack.status == AckStatus.REJECTED:
                record.fills_rejected += 1
                self.journal.event(
                    "rejected", "", f"{fill.venue} fill {fill.venue_fill_id} rejected: {ack.reason} {ack.detail}"
                )
            else:
                record.fills_accepted += 1
        for tr in trades:
            if tr.venue == "otc-desk":
                side = "buys" if tr.buyer not in self.makers else "sells"
                who = tr.buyer if side == "buys" else tr.seller
                self.journal.event(
                    "trade",
                    who,
                    f"{who} {side} a block of {tr.qty:,.2f} {tr.underlying} on the OTC desk at ${tr.price:,.0f}",
                )
