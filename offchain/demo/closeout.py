"""A declared default's close-out, inside the hour: the engine's AuctionHouse opens a tranche, the market
makers bid (EIP-712 signed), chain time moves on by the auction interval, the tranche clears and its fills
settle in the next batch, until the batch that leaves the defaulter flat COVERs its debt and CLOSEs."""

from __future__ import annotations

from offchain.core.bid import auctions_domain
from offchain.demo import defaults as dm
from offchain.demo.behaviour import Members
from offchain.demo.market import Market
from offchain.demo.observer import Observer
from offchain.demo.world import DEMO_DEFAULTS, HOUR, QTY, USD, World

MAX_STEPS = 60


def close_out(k: int, world: World, market: Market, members: Members, observer: Observer) -> None:
    interval = DEMO_DEFAULTS.auction.interval_s
    domain = auctions_domain(world.spec.chain_id, world.spec.vault)
    for _ in range(MAX_STEPS):
        live = dm.live_default(world.db)
        if live is None:
            return
        world.refresh_status()
        report = world.house.step()
        observer.auction(report)
        for tranche in report.opened:
            for b, bid, sig in dm.signed_bids(tranche, members.bidders(), domain, world.chain_time() + HOUR):
                ack = world.house.submit_bid(bid, sig)
                observer.journal.event(
                    "bid",
                    b.name,
                    f"{b.name} bids for {bid.qty / QTY:,.2f} at ${bid.price / USD:,.0f} (EIP-712 signed): "
                    + ("accepted" if ack.accepted else f"refused {ack.reason}"),
                )
        if report.delivered:
            before = world.venue_positions()
            market.publish_marks(k, world.chain_time(), funding=False)
            result = world.engine.step()
            observer.batch(result, [], before, k)
            observer.calls()
            observer.waterfall(live[0], result.sequence)
            continue
        world.advance_to(world.chain_time() + interval)
        market.publish_marks(k, world.chain_time(), funding=False)
    observer.journal.event("alert", "", f"the close-out auction did not finish within {MAX_STEPS} steps")
