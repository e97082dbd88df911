"""The demo's story: a real Anvil chain, the real engine, a real price path, members of every kind.

1. Start Anvil; deploy the tokens and the vault (2-of-3 risk signers); register three venues; admit the
   members (bootstrap), the DAO as a real Safe multisig; deposit mixed collateral.
2. Replay the window hour by hour. The chain's clock moves one hour per tick (Anvil `evm_increaseTime`), so
   the vault's withdrawal delay, the cure periods and the funding intervals run on history's clock while the
   demo runs in minutes. Each tick: publish the hour's real marks (and funding fixings), let the members'
   strategies trade on the venues (signed fills, ingested), settle one batch with the real engine (netting,
   variation margin, funding, fees, margin from the risk engine, posted on-chain, and default management:
   margin calls, cures and DECLAREs by the engine's DefaultManager), then let the members react (top-ups,
   withdrawals). The demo reads the calls from the ledger (`margin_calls`) and the vault (`marginCallOf`,
   `inDefault`); it decides none of them.
   When a default is declared, the engine's AuctionHouse closes the defaulter out inside the hour: a tranche
   every `interval_s` (chain time moves on by that much), the market makers bid with EIP-712 signed bids, the
   cleared trades settle as `crossclear-auction` fills in the next batches, and the batch that leaves the
   defaulter flat COVERs its debt: the vault draws the waterfall itself (`WaterfallDraw` events) and CLOSEs.
3. Drain, reconcile the ledger with the chain, check solvency, publish the fills and run the auditor (when
   its command exists), and write the report.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account
from sqlalchemy import Engine, select

from offchain.chain.anvil import Anvil
from offchain.chain.deploy import DEVNET_TOKENS, mint
from offchain.chain.errors import RevertedError
from offchain.chain.safe import SafeMultisig, deploy_safe
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.bid import auctions_domain
from offchain.core.fills import Fill, fills_domain
from offchain.core.waterfall import Layer
from offchain.core.withdrawal import WithdrawalRequest
from offchain.defaults.calls import AssetMark, MemberState, equity
from offchain.defaults.house import StepReport
from offchain.defaults.manager import DefaultsConfig
from offchain.demo import defaults as dm
from offchain.demo.display import Display, Status
from offchain.demo.flow import Trade, VenueFlow
from offchain.demo.history import Window, load_window
from offchain.demo.population import MemberProfile, load_population
from offchain.demo.record import BatchRow, Event, MemberTick, RunRecord, Tick
from offchain.devnet.bootstrap import bring_up, fund_gas, new_key
from offchain.devnet.reconcile import reconcile
from offchain.devnet.runtime import auction_house, connect, settlement_engine
from offchain.devnet.spec import DevnetSpec, MemberSpec
from offchain.ingest import registry
from offchain.ingest.service import AckStatus, Ingestor
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.risk.platform import directional_imbalance
from offchain.settlement.clock import ChainClock
from offchain.settlement.engine import SettlementEngine, StepResult
from offchain.settlement.payload import BatchPayload
from offchain.settlement.prices import LedgerPrices, record_funding, record_price

USD = 10**6  # settlement base units per dollar
QTY = 10**8  # instrument quantity units per whole unit (qty_decimals = 8)
HOUR = 3600
INSTRUMENT = {"BTC": "BTC-USD-PERP", "ETH": "ETH-USD-PERP"}
DECIMALS = {t.symbol: t.decimals for t in DEVNET_TOKENS}
DEFAULT_SPEED = 2400.0  # seconds of history per second of demo: one hour every 1.5 s
# Default management as the engine ships it: calls cured within 2 h (30 min when deep), close-out auctions of
# 25% tranches every 5 minutes, bids within 3% of the mark.
DEMO_DEFAULTS = DefaultsConfig()
HOUSE_MARGIN_USDC = 1_000_000  # the house account takes unbid auction remainders: margin for them
# The market makers' bids in close-out auctions: share of each tranche, edge off the mark (bps), tranches skipped.
BIDDING = {"dex_maker": (4_500, 120, frozenset[int]()), "cex_maker": (4_000, 80, frozenset({2}))}


@dataclass(frozen=True)
class DemoOptions:
    window: str = "may-2021"
    members_file: Path | None = None
    speed: float = DEFAULT_SPEED  # 0: as fast as the machine goes
    out_dir: Path = Path("var/demo")
    port: int | None = None
    seed: int = 7
    live: bool | None = None  # None: a live panel when stdout is a terminal


@dataclass
class Member:
    profile: MemberProfile
    spec: MemberSpec
    payer: TxSender  # who deposits for it (itself, or for the Safe: its first owner)
    wallet: float  # USDC outside the vault, for top-ups
    safe: SafeMultisig | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def account(self) -> int:
        return self.spec.account


@dataclass
class PendingWithdrawal:
    member: str
    id: int
    amount: float
    ready_at: int
    how: str


class Story:
    def __init__(self, opts: DemoOptions, display: Display) -> None:
        self.opts = opts
        self.display = display
        self.window: Window = load_window(opts.window)
        self.population = load_population(opts.members_file)
        self.record = RunRecord(window=self.window.name, window_note=self.window.note, speed=opts.speed)
        self.members: dict[str, Member] = {}
        self.last_call_id = 0
        self.status: dict[int, str] = {}  # account -> the ledger's member status
        self.default_note = ""
        self.withdrawals: list[PendingWithdrawal] = []
        self.tick = 0
        self.fills_seen = 0

    # ---------------------------------------------------------------- helpers

    def _event(self, kind: str, member: str, text: str, amount: float = 0.0) -> None:
        hour = self.window.label(self.tick) if self.tick < len(self.window) else "end"
        self.record.events.append(Event(self.tick, hour, kind, member, text, amount))
        self.display.event(f"[{hour}] {text}")

    def _chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _advance_to(self, target: int) -> None:
        now = self._chain_time()
        if target > now:
            self.w3.provider.make_request("evm_increaseTime", [target - now])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # ---------------------------------------------------------------- set-up

    def run(self) -> RunRecord:
        out = self.opts.out_dir
        out.mkdir(parents=True, exist_ok=True)
        ledger = out / "ledger.db"
        for p in (ledger, out / "ledger.db-wal", out / "ledger.db-shm"):
            p.unlink(missing_ok=True)
        started = time.monotonic()
        with Anvil(port=self.opts.port, log_path=out / "anvil.log") as chain:
            self.w3 = chain.web3()
            self.db_url = f"sqlite:///{ledger}"
            self.db: Engine = open_ledger(self.db_url)
            self.display.step("Anvil running", f"{chain.url}, chain id {self.w3.eth.chain_id}")
            self._bring_up(chain.url)
            self.record.seconds["setup"] = time.monotonic() - started
            t0 = time.monotonic()
            self._replay()
            self.record.seconds["replay"] = time.monotonic() - t0
            t0 = time.monotonic()
            self._finish(chain.url)
            self.record.seconds["checks"] = time.monotonic() - t0
            self.db.dispose()
        return self.record

    def _bring_up(self, url: str) -> None:
        risk_asof = str(self.window.hours[0].astype("datetime64[D]") - np.timedelta64(1, "D"))
        eoa = [m for m in self.population if not m.safe]
        spec = bring_up(
            self.w3,
            url,
            self.db,
            [(m.name, m.kind, m.tier, m.group) for m in eoa],
            risk_asof,
            house_margin_usdc=HOUSE_MARGIN_USDC,
        )
        self.vault: VaultClient = connect(spec)
        self.operator = vault_sender(self.w3, spec.operator_key)
        self.display.step(
            "vault deployed",
            f"{spec.vault}, 2-of-3 risk signers, tokens {', '.join(spec.tokens)}; "
            f"venues {', '.join(v.name for v in spec.venues)}",
        )
        for profile, ms in zip(eoa, spec.members, strict=True):
            self.members[profile.name] = Member(profile, ms, vault_sender(self.w3, ms.key), profile.wallet_usdc)
        safe_profile = next((m for m in self.population if m.safe), None)
        if safe_profile is not None:
            spec = self._admit_safe(spec, safe_profile)
        self.spec: DevnetSpec = spec
        self.record.vault, self.record.chain_id = spec.vault, spec.chain_id
        # Keep the population's order (the report lists members as the file does).
        self.members = {p.name: self.members[p.name] for p in self.population}
        for m in self.members.values():
            self.record.members.append(
                {
                    "name": m.name,
                    "kind": m.profile.kind,
                    "tier": m.profile.tier,
                    "group": m.profile.group,
                    "account": m.account,
                    "address": m.spec.address,
                    "safe": m.safe is not None,
                    "collateral": dict(m.profile.collateral),
                }
            )
        kinds = ", ".join(sorted({m.profile.kind for m in self.members.values()}))
        self.display.step(f"{len(self.members)} members admitted", kinds)
        self._deposit_all()
        # The demo's world time is the chain's (it replays history by warping the chain): one clock for all.
        self.engine: SettlementEngine = settlement_engine(
            spec, self.db, defaults=DEMO_DEFAULTS, clock=ChainClock(self.w3)
        )
        self.ingestor = Ingestor(
            self.db, fills_domain(spec.chain_id, spec.vault), clock=lambda: self._chain_time() * 1000
        )
        self.house = auction_house(
            spec, self.db, DEMO_DEFAULTS.auction, self.ingestor, fill_clock_ms=lambda: self._chain_time() * 1000
        )
        self.names = {m.account: n for n, m in self.members.items()} | {spec.house_account: "crossclear house"}
        self.venue_keys = {v.name: v.key for v in spec.venues}
        self.flow = VenueFlow(self.population, self.window, self.opts.seed)

    def _admit_safe(self, spec: DevnetSpec, profile: MemberProfile) -> DevnetSpec:
        owner_keys = tuple(new_key()[0] for _ in range(3))
        _infra, safe = deploy_safe(self.operator, owner_keys, threshold=2)
        account = self.vault.admit_member(self.operator, safe.address)
        with self.db.begin() as conn:
            registry.admit_member(conn, account, safe.address, profile.name, profile.kind, profile.tier, profile.group)
            for ins in spec.instruments:
                registry.grant(conn, account, ins.name)
        ms = MemberSpec(
            name=profile.name,
            kind=profile.kind,
            tier=profile.tier,
            group=profile.group,
            key=owner_keys[0],
            address=safe.address,
            account=account,
        )
        owner = Account.from_key(owner_keys[0]).address
        fund_gas(self.w3, spec.operator_key, owner)
        self.members[profile.name] = Member(
            profile, ms, vault_sender(self.w3, owner_keys[0]), profile.wallet_usdc, safe
        )
        self.display.step(
            f"{profile.name} is a Safe", f"{safe.address}: Safe 1.4.1 from the npm artefacts, 2-of-3 owners"
        )
        return spec.model_copy(update={"members": [*spec.members, ms]})

    def _deposit_all(self) -> None:
        for m in self.members.values():
            for symbol, amount in m.profile.collateral.items():
                units = round(amount * 10 ** DECIMALS[symbol])
                if units <= 0:
                    continue
                mint(self.operator, self.spec.tokens[symbol], m.payer.address, units)
                self.vault.deposit(m.payer, m.spec.address, self.spec.assets[symbol], units)
            if m.wallet > 0:
                mint(self.operator, self.spec.tokens["USDC"], m.payer.address, round(m.wallet * USD))
        self.display.step(
            "collateral deposited", "USDC, WETH, WBTC and T-bill shares, by each member (the Safe's by its owner)"
        )

    # ---------------------------------------------------------------- the replay

    def _replay(self) -> None:
        w = self.window
        self.display.start(len(w), f"{w.name}: {w.note}")
        t_chain0 = self.t_chain0 = self._chain_time()
        wall0 = time.monotonic()
        per_tick = HOUR / self.opts.speed if self.opts.speed > 0 else 0.0
        withdraw_safe_at = max(1, len(w) // 3)
        withdraw_eoa_at = max(2, (2 * len(w)) // 3)
        for k in range(len(w)):
            self.tick = k
            if k:
                self._advance_to(t_chain0 + k * HOUR)
            now = self._chain_time()
            self._publish_marks(k, now)
            free = {n: self.vault.free_collateral(m.account) / USD for n, m in self.members.items()}
            # Called members are close-only and defaulted ones trade only through the close-out auction:
            # their venues stop sending their fills (ingest would refuse them).
            self.status = dm.statuses(self.db)
            trades = [tr for tr in self.flow.trades(k, free) if self._active(tr.buyer) and self._active(tr.seller)]
            self._submit(trades, now, k)
            positions_before = self._venue_positions()
            result = self.engine.step()
            self._after_batch(result, trades, positions_before, k)
            self._read_calls()
            self._close_out(k)
            self._snapshot(k, self._chain_time())
            self._members_react(k, now, withdraw_safe_at, withdraw_eoa_at)
            self._status(k)
            if per_tick:
                time.sleep(max(0.0, wall0 + (k + 1) * per_tick - time.monotonic()))
        self.display.stop_live()

    def _active(self, name: str) -> bool:
        return self.status.get(self.members[name].account, "active") == "active"

    def _publish_marks(self, k: int, now: int, funding: bool = True) -> None:
        with self.db.begin() as conn:
            for u, instrument in INSTRUMENT.items():
                price = round(self.window.price(k, u) * USD)
                record_price(conn, instrument, price, now * 1000, "demo-history")
                # Collateral index: the perpetual's close stands in for spot (the shipped hourly file is perps).
                record_price(conn, u, price, now * 1000, "demo-history")
            for hour, u, rate in self.window.funding:
                if funding and hour == k:
                    record_funding(conn, INSTRUMENT[u], now * 1000, round(rate * 10**8))

    def _submit(self, trades: list[Trade], now: int, k: int) -> None:
        if not trades:
            return
        domain = fills_domain(self.spec.chain_id, self.spec.vault)
        items: list[tuple[Fill, bytes]] = []
        for n, tr in enumerate(trades):
            fill = Fill(
                venue=tr.venue,
                venue_fill_id=f"{tr.venue}-{k}-{n}",
                symbol=tr.symbol,
                buyer=self.members[tr.buyer].spec.address,
                seller=self.members[tr.seller].spec.address,
                qty=round(tr.qty * QTY),
                price=round(tr.price * USD),
                ts=now * 1000,
            )
            sig = bytes(Account.unsafe_sign_hash(fill.digest(domain), self.venue_keys[tr.venue]).signature)
            items.append((fill, sig))
        for (fill, _), ack in zip(items, self.ingestor.submit_many(items), strict=True):
            if ack.status == AckStatus.REJECTED:
                self.record.fills_rejected += 1
                self._event(
                    "rejected", "", f"{fill.venue} fill {fill.venue_fill_id} rejected: {ack.reason} {ack.detail}"
                )
            else:
                self.record.fills_accepted += 1
        for tr in trades:
            if tr.venue == "otc-desk":
                side = "buys" if tr.buyer not in self._makers() else "sells"
                who = tr.buyer if side == "buys" else tr.seller
                self._event(
                    "trade",
                    who,
                    f"{who} {side} a block of {tr.qty:,.2f} {tr.underlying} on the OTC desk at ${tr.price:,.0f}",
                )

    def _makers(self) -> set[str]:
        return {m.name for m in self.population if m.strategy in ("dex_maker", "cex_maker")}

    def _venue_positions(self) -> dict[tuple[int, str, str], int]:
        with self.db.connect() as conn:
            return {
                (int(m), str(i), str(v)): int(q)
                for m, i, v, q in conn.execute(
                    select(t.positions.c.member, t.positions.c.instrument, t.positions.c.venue, t.positions.c.qty)
                )
                if q
            }

    def _after_batch(
        self, result: StepResult, trades: list[Trade], before: dict[tuple[int, str, str], int], k: int
    ) -> None:
        if result.action == "abandoned":
            self._event("alert", "", f"batch {result.sequence} refused by the vault: released for the next one")
            return
        if result.action not in ("settled", "recovered") or result.sequence is None:
            return
        with self.db.connect() as conn:
            raw = conn.execute(select(t.batches.c.payload).where(t.batches.c.sequence == result.sequence)).scalar_one()
        payload = BatchPayload.from_json(raw)
        after = self._venue_positions()
        # Without cross-venue clearing each venue settles its own members: one transfer per member with a
        # position or a fill on that venue, plus the venue's fee account when it had fills.
        by_venue: dict[str, set[int]] = defaultdict(set)
        for m, _i, v in set(before) | set(after):
            by_venue[v].add(m)
        account = {n: mb.account for n, mb in self.members.items()}
        traded: dict[str, int] = defaultdict(int)
        for tr in trades:
            by_venue[tr.venue].update((account[tr.buyer], account[tr.seller]))
            traded[tr.venue] += 1
        venue_transfers = sum(len(s) + (1 if traded[v] else 0) for v, s in by_venue.items())
        self.fills_seen += result.fills
        self.record.batches.append(
            BatchRow(
                tick=k,
                sequence=result.sequence,
                fills=result.fills,
                transfers=len(payload.batch.transfers),
                requirements=len(payload.batch.requirements),
                gas=result.gas_used or 0,
                latency_s=result.latency_s or 0.0,
                transfers_venue_only=venue_transfers,
                batches_venue_only=sum(1 for s in by_venue.values() if s),
            )
        )

    def _asset_marks(self) -> dict[int, AssetMark]:
        out = {}
        for symbol, asset in self.spec.assets.items():
            price, haircut = self.vault.contract.functions.markOf(asset).call()
            out[asset] = AssetMark(int(price), int(haircut), DECIMALS[symbol])
        return out

    def _member_states(self) -> dict[str, MemberState]:
        marks = self._asset_marks()
        out = {}
        for n, m in self.members.items():
            balances = {a: self.vault.balance(m.account, a) for a in self.spec.assets.values()}
            debt = self.vault.debt(m.account)
            im, mm = self.vault.contract.functions.requirementOf(m.account).call()
            out[n] = MemberState(m.account, equity(balances, debt, marks), debt, int(im), int(mm))
        return out

    def _snapshot(self, k: int, now: int) -> None:
        states = self._member_states()
        self.states = states
        venue_pos = self._venue_positions()
        net: dict[tuple[int, str], int] = defaultdict(int)
        for (m, i, _v), q in venue_pos.items():
            net[(m, i)] += q
        margin = self.engine.builder.margin
        tiers = [(mb.account, mb.profile.tier) for mb in self.members.values()]
        marks = {INSTRUMENT[u]: round(self.window.price(k, u) * USD) for u in INSTRUMENT}
        with self.db.begin() as conn:
            cprices = self.engine.builder.collateral_prices(conn, LedgerPrices(conn), now * 1000)
        venue_only: dict[int, float] = defaultdict(float)
        if cprices is not None:  # each venue margining its own slice alone, for the netting comparison
            for venue in {v for (_m, _i, v) in venue_pos}:
                positions = {(m, i): q for (m, i, v), q in venue_pos.items() if v == venue}
                for acct, mg in margin.requirements(tiers, positions, marks, {}, cprices).items():
                    venue_only[acct] += mg.im / USD
        members = {}
        for n, mb in self.members.items():
            s = states[n]
            members[n] = MemberTick(
                im=s.im / USD,
                mm=s.mm / USD,
                collateral=s.equity / USD,
                debt=s.debt / USD,
                im_venue_only=venue_only.get(mb.account, 0.0),
                net_btc=net.get((mb.account, INSTRUMENT["BTC"]), 0) / QTY,
                net_eth=net.get((mb.account, INSTRUMENT["ETH"]), 0) / QTY,
            )
        groups = sorted({mb.profile.group for mb in self.members.values()})
        gidx = np.array([groups.index(mb.profile.group) for mb in self.members.values()], dtype=np.int64)
        pos = np.array([[members[n].net_btc, members[n].net_eth] for n in self.members])
        prices = np.array([self.window.price(k, "BTC"), self.window.price(k, "ETH")])
        imb = directional_imbalance(pos, prices, gidx, len(groups))
        self.record.ticks.append(
            Tick(
                index=k,
                hour=str(self.window.hours[k]),
                chain_time=now,
                btc=float(prices[0]),
                eth=float(prices[1]),
                members=members,
                group_net={g: (float(imb.net[j, 0]), float(imb.net[j, 1])) for j, g in enumerate(groups)},
                platform_one_sided=(float(imb.platform_one_sided[0]), float(imb.platform_one_sided[1])),
            )
        )

    # ---------------------------------------------------------------- margin calls and member behaviour

    def _hhmm(self, chain_s: int) -> str:
        """A chain moment on the window's clock (the chain's clock is history's, shifted)."""
        start = self.window.hours[0].astype("datetime64[s]")
        return str(start + np.timedelta64(chain_s - self.t_chain0, "s")).replace("T", " ")[:16] + " UTC"

    def _read_calls(self) -> None:
        """The engine's margin-call decisions of the batches just settled (ledger `margin_calls`), each checked
        against the vault's own record (`marginCallOf`, `inDefault`)."""
        f = self.vault.contract.functions
        for r in dm.call_rows(self.db, self.last_call_id):
            self.last_call_id = r.id
            n = self.names.get(r.account, f"account {r.account}")
            chain_amount, chain_deadline = (int(x) for x in f.marginCallOf(r.account).call())
            state = (
                f"equity ${r.equity / USD:,.0f}, MM ${r.mm / USD:,.0f}, IM ${r.im / USD:,.0f}, "
                f"debt ${r.debt / USD:,.0f}"
            )
            if r.verdict in ("issue", "raise"):
                onchain = (
                    f"on-chain marginCallOf ${chain_amount / USD:,.0f} by {self._hhmm(chain_deadline)}"
                    if (chain_amount, chain_deadline) == (r.amount, r.deadline)
                    else "NOT the vault's marginCallOf"
                )
                what = "margin call to" if r.verdict == "issue" else "margin call raised for"
                self._event(
                    "call",
                    n,
                    f"{what} {n}: ${r.amount / USD:,.0f} by {self._hhmm(r.deadline)}"
                    f"{' (deep breach: 30 min)' if r.deep else ''} ({state}); {onchain}; close-only until cured",
                    r.amount / USD,
                )
            elif r.verdict == "cure":
                self._event(
                    "cure", n, f"{n} cured its margin call ({state}); on-chain call cleared: {chain_amount == 0}"
                )
            elif r.verdict == "default":
                in_default = bool(f.inDefault(r.account).call())
                self._event(
                    "default",
                    n,
                    f"{n} did not cure by the deadline: the engine DECLAREs the default in batch {r.sequence} "
                    f"({state}); on-chain inDefault = {in_default}; its positions go to a close-out auction",
                    r.equity / USD,
                )
                self.default_note = f"{n} in default: close-out auction"

    def _bidders(self) -> list[dm.Bidder]:
        out = []
        for n, m in self.members.items():
            terms = BIDDING.get(str(m.profile.strategy))
            if terms is None or not self._active(n) or m.safe is not None:
                continue
            share, edge, skip = terms
            out.append(dm.Bidder(n, m.spec.address, m.spec.key, share, edge, skip))
        return out

    def _close_out(self, k: int) -> None:
        """Run the close-out auction of a declared default inside this hour: the AuctionHouse opens a tranche,
        the market makers bid, chain time moves on by the auction interval, the tranche clears and its fills
        settle in the next batch, until the batch that leaves the defaulter flat COVERs and CLOSEs."""
        interval = DEMO_DEFAULTS.auction.interval_s
        domain = auctions_domain(self.spec.chain_id, self.spec.vault)
        for _ in range(60):
            live = dm.live_default(self.db)
            if live is None:
                return
            self.status = dm.statuses(self.db)
            report = self.house.step()
            self._auction_events(report)
            for tranche in report.opened:
                for b, bid, sig in dm.signed_bids(tranche, self._bidders(), domain, self._chain_time() + HOUR):
                    ack = self.house.submit_bid(bid, sig)
                    self._event(
                        "bid",
                        b.name,
                        f"{b.name} bids for {bid.qty / QTY:,.2f} at ${bid.price / USD:,.0f} (EIP-712 signed): "
                        + ("accepted" if ack.accepted else f"refused {ack.reason}"),
                    )
            if report.delivered:
                before = self._venue_positions()
                self._publish_marks(k, self._chain_time(), funding=False)
                result = self.engine.step()
                self._after_batch(result, [], before, k)
                self._read_calls()
                self._waterfall_events(live[0], result.sequence)
                continue
            self._advance_to(self._chain_time() + interval)
            self._publish_marks(k, self._chain_time(), funding=False)
        self._event("alert", "", "the close-out auction did not finish within 60 steps")

    def _auction_events(self, report: StepReport) -> None:
        for res in report.cleared:
            won = ", ".join(
                f"{self.names.get(a.account, a.account)} {a.qty / QTY:,.2f} at ${a.price / USD:,.0f}"
                for a in res.awards
            )
            house = (
                f"; the house takes the unbid {res.residual_qty / QTY:,.2f} at ${res.residual_price / USD:,.0f}"
                if res.residual_qty
                else ""
            )
            self._event(
                "auction",
                self.names.get(res.tranche.defaulter, ""),
                f"tranche {res.tranche.index} cleared: {won or 'no bids'}{house}",
            )
        for tr in report.opened:
            n = self.names.get(tr.defaulter, str(tr.defaulter))
            side = "sells" if tr.defaulter_sells else "buys"
            self._event(
                "auction",
                n,
                f"auction tranche {tr.index}: {n} {side} {tr.qty / QTY:,.2f} {tr.instrument} "
                f"(mark ${tr.mark / USD:,.0f}), bids open for {DEMO_DEFAULTS.auction.interval_s // 60} min",
            )
            self.default_note = f"{n} in default: tranche {tr.index} open"

    def _waterfall_events(self, default_id: int, sequence: int | None) -> None:
        if sequence is None:
            return
        w = t.waterfall_draws
        with self.db.connect() as conn:
            rows = conn.execute(
                select(w).where(w.c.default_id == default_id, w.c.batch_sequence == sequence, w.c.source == "chain")
            ).all()
            closed = conn.execute(
                select(t.defaults.c.status, t.defaults.c.covered).where(t.defaults.c.id == default_id)
            ).one()
        symbols = {a: s for s, a in self.spec.assets.items()}
        for r in rows:
            n = dm.LAYER_NAMES[Layer(r.layer)]
            token = symbols.get(int(r.asset), str(r.asset))
            amount = int(r.amount) / 10 ** DECIMALS.get(token, 6)
            self._event(
                "waterfall",
                self.names.get(r.account, "operator capital" if r.account == 3 else f"account {r.account}"),
                f"WaterfallDraw {n}: {amount:,.4f} {token} worth ${int(r.value) / USD:,.0f} "
                f"(vault event, batch {sequence})",
                int(r.value) / USD,
            )
        if closed.status == "closed":
            self._event(
                "waterfall",
                "",
                f"default closed in batch {sequence}: loss ${int(closed.covered) / USD:,.0f} covered by the waterfall "
                "on-chain (COVER, CLOSE); no ADL, no outside money",
                int(closed.covered) / USD,
            )
            self.default_note = f"default closed: ${int(closed.covered) / USD:,.0f} covered by the waterfall, no ADL"

    def _members_react(self, k: int, now: int, safe_at: int, eoa_at: int) -> None:
        for n, m in self.members.items():
            s = self.states[n]
            short = max(s.im - s.equity, 0) + s.debt
            if self.status.get(m.account) == "defaulted" or short <= 0 or m.wallet <= 0:
                continue
            amount = min(m.wallet, (short * 1.25 + 0.1 * s.im) / USD)
            units = round(amount * USD)
            self.vault.deposit(m.payer, m.spec.address, 0, units)
            m.wallet -= units / USD
            self._event("deposit", n, f"{n} tops up ${units / USD:,.0f} USDC (collateral below IM)", units / USD)
        if k == safe_at:
            self._safe_withdrawal(now)
        if k == eoa_at:
            self._eoa_withdrawal()
        for w in list(self.withdrawals):
            if now >= w.ready_at:
                try:
                    self.vault.execute_withdrawal(self.operator, w.id)
                    self._event(
                        "withdrawal",
                        w.member,
                        f"{w.member}'s withdrawal #{w.id} of ${w.amount:,.0f} executed after the delay",
                        w.amount,
                    )
                except RevertedError as exc:
                    self._event("withdrawal", w.member, f"withdrawal #{w.id} refused at execution: {exc.error}")
                self.withdrawals.remove(w)

    def _withdrawable(self, m: Member) -> int:
        free = self.vault.free_collateral(m.account)
        cash = self.vault.balance(m.account, 0)
        return max(0, min(free, cash) * 4 // 10 // (1_000 * USD) * (1_000 * USD))

    def _safe_withdrawal(self, now: int) -> None:
        m = next((x for x in self.members.values() if x.safe is not None), None)
        if m is None or m.safe is None:
            return
        amount = self._withdrawable(m)
        if amount <= 0:
            self._event("withdrawal", m.name, f"{m.name} has no free collateral to withdraw")
            return
        treasury = m.payer.address
        req = WithdrawalRequest(
            member=m.spec.address,
            asset=0,
            amount=amount,
            to=treasury,
            nonce=int(self.vault.contract.functions.withdrawalNonce(m.spec.address).call()),
            deadline=now + HOUR,
        )
        digest = req.digest(self.vault.domain)
        onchain = bytes(self.vault.contract.functions.withdrawalRequestDigest(req.as_call_args()).call())
        if onchain != digest:
            raise RuntimeError("the vault's withdrawal digest differs from offchain/core/withdrawal.py")
        try:  # one owner is not the Safe: the vault asks the Safe (EIP-1271), which refuses
            self.operator.prepare(
                self.vault.contract.functions.requestWithdrawalBySig(req.as_call_args(), m.safe.sign_1271(digest, 1))
            )
            self._event("alert", m.name, "a withdrawal signed by one Safe owner was ACCEPTED: this must not happen")
        except RevertedError as exc:
            self._event(
                "withdrawal",
                m.name,
                f"a request signed by 1 of the Safe's 3 owners is refused by the vault ({exc.error})",
            )
        wid = self.vault.request_withdrawal_by_sig(self.operator, req, m.safe.sign_1271(digest))
        info = self.vault.withdrawal(wid)
        self.withdrawals.append(PendingWithdrawal(m.name, wid, amount / USD, info.ready_at, "eip1271"))
        self._event(
            "withdrawal",
            m.name,
            f"{m.name} (Safe, 2 of 3 owners, EIP-1271) requests a withdrawal of ${amount / USD:,.0f}: "
            f"relayed by anyone, checked against its posted IM, executable after the 1 h delay",
            amount / USD,
        )

    def _eoa_withdrawal(self) -> None:
        m = next((x for x in self.members.values() if x.profile.kind == "foundation"), None)
        if m is None:
            return
        amount = self._withdrawable(m)
        if amount <= 0:
            return
        wid = self.vault.request_withdrawal(m.payer, 0, amount, m.payer.address)
        self.withdrawals.append(
            PendingWithdrawal(m.name, wid, amount / USD, self.vault.withdrawal(wid).ready_at, "eoa")
        )
        self._event(
            "withdrawal",
            m.name,
            f"{m.name} requests a withdrawal of ${amount / USD:,.0f} of free collateral",
            amount / USD,
        )

    def _status(self, k: int) -> None:
        last = self.record.batches[-1] if self.record.batches else None
        tick = self.record.ticks[-1]
        self.display.update(
            Status(
                hour=self.window.label(k),
                btc=tick.btc,
                eth=tick.eth,
                batches=len(self.record.batches),
                fills=self.fills_seen,
                last_gas=last.gas if last else 0,
                last_latency_s=last.latency_s if last else 0.0,
                members=[(n, mt.im, mt.collateral, mt.debt) for n, mt in tick.members.items()],
                note=self.default_note,
            )
        )

    # ---------------------------------------------------------------- the end

    def _finish(self, url: str) -> None:
        for _ in range(10):  # drain: settle whatever is still pending
            if self.engine.step().action == "idle":
                break
        self.record.gas_model = BENCH_GAS_MODEL
        problems = reconcile(self.vault, self.db)
        self.record.reconcile_problems = problems
        self.display.step(
            "ledger reconciled with the chain" if not problems else f"reconciliation found {len(problems)} problem(s)",
            "every fill settled once, positions and cash agree" if not problems else problems[0],
        )
        for symbol, asset in self.spec.assets.items():
            held = int(self.vault.token(asset).functions.balanceOf(self.vault.address).call())
            owed = self.vault.total_owed(asset)
            self.record.solvency.append(
                {"symbol": symbol, "held": held / 10 ** DECIMALS[symbol], "owed": owed / 10 ** DECIMALS[symbol]}
            )
        solvent = all(a["held"] >= a["owed"] for a in self.record.solvency)
        self.display.step(
            "solvency" if solvent else "INSOLVENT", "for every token the vault holds at least what it owes"
        )
        symbols = {a: (sym, DECIMALS[sym]) for sym, a in self.spec.assets.items()}
        self.record.defaults = dm.summary(self.db, self.vault, self.names, symbols, self._hhmm)
        self.display.step("default management", str(self.record.defaults["detail"]))
        self.record.audit = run_auditor(url, self.spec.vault, self.db_url, self.opts.out_dir, self.display.step)


# Gas of Vault.settle measured by scripts/bench_gas.py (docs/performance.md): fixed per batch, per transfer.
# The with/without-netting comparison applies this one model to both sides. A fit on the demo's own batches
# is no good: they are small and their gas is dominated by first writes of new slots and by requirement,
# mark and default rows, so a least-squares fit even gives a negative cost per transfer.
BENCH_GAS_MODEL = (76_496.0, 5_647.0)


def run_auditor(rpc: str, vault: str, db_url: str, out: Path, say: Callable[[str, str], None]) -> dict[str, object]:
    """Publish the fills and run the independent auditor through their commands, as an auditor would."""
    fills = out / "fills.jsonl"
    cmd = [sys.executable, "-m", "offchain.cli.main"]
    pub = subprocess.run(
        [*cmd, "publish", "--db", db_url, "--out", str(fills)], capture_output=True, text=True, timeout=300
    )
    if pub.returncode != 0:
        say("publishing the fills FAILED", pub.stderr.strip()[-300:])
        return {"status": "failed", "detail": "publish failed", "output": pub.stdout + pub.stderr}
    started = time.monotonic()
    aud = subprocess.run(
        [*cmd, "audit", "--rpc", rpc, "--vault", vault, "--fills", str(fills)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    status = "passed" if aud.returncode == 0 else "failed"
    last = (aud.stdout.strip().splitlines() or aud.stderr.strip().splitlines() or [""])[-1]
    say(f"auditor {status}", last)
    return {
        "status": status,
        "detail": last,
        "output": (aud.stdout + aud.stderr)[-6000:],
        "seconds": time.monotonic() - started,
        "fills_file": str(fills),
    }
