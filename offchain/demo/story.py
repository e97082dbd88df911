"""The demo's story: a real Anvil chain, the real engine, a real price path, members of every kind.

1. Start Anvil; deploy the tokens and the vault (2-of-3 risk signers); register three venues; admit the
   members (bootstrap), the DAO as a real Safe multisig; deposit mixed collateral; start three co-signer
   processes (`crossclear cosign`, one per risk-signer key), which verify and sign every batch the engine
   proposes (the engine holds no risk key).
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

The rooms: `world.py` (what is built: chain, vault, members, engine), `market.py` (the replayed prices and
the venues' fills), `behaviour.py` (what members do: top-ups, withdrawals, bids), `closeout.py` (a default's
auction inside the hour), `observer.py` (what is recorded and checked). This module is the tick loop.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from offchain.chain.anvil import Anvil
from offchain.demo.behaviour import Members
from offchain.demo.closeout import close_out
from offchain.demo.display import Display
from offchain.demo.history import Window, load_window
from offchain.demo.market import Market
from offchain.demo.observer import Journal, Observer
from offchain.demo.population import load_population
from offchain.demo.record import RunRecord
from offchain.demo.world import HOUR, World, build_world
from offchain.devnet.cosigners import devnet_cosigners
from offchain.devnet.spec import DevnetSpec
from offchain.ledger.db import open_ledger

DEFAULT_SPEED = 2400.0  # seconds of history per second of demo: one hour every 1.5 s


@dataclass(frozen=True)
class DemoOptions:
    window: str = "may-2021"
    members_file: Path | None = None
    speed: float = DEFAULT_SPEED  # 0: as fast as the machine goes
    out_dir: Path = Path("var/demo")
    port: int | None = None
    seed: int = 7
    live: bool | None = None  # None: a live panel when stdout is a terminal


class Story:
    def __init__(self, opts: DemoOptions, display: Display) -> None:
        self.opts = opts
        self.display = display
        self.window: Window = load_window(opts.window)
        self.population = load_population(opts.members_file)
        self.record = RunRecord(window=self.window.name, window_note=self.window.note, speed=opts.speed)
        self.journal = Journal(self.record, display, self.window)

    def run(self) -> RunRecord:
        out = self.opts.out_dir
        out.mkdir(parents=True, exist_ok=True)
        ledger = out / "ledger.db"
        for p in (ledger, out / "ledger.db-wal", out / "ledger.db-shm"):
            p.unlink(missing_ok=True)
        started = time.monotonic()
        with Anvil(port=self.opts.port, log_path=out / "anvil.log") as chain, ExitStack() as cosigners:
            w3 = chain.web3()
            db_url = f"sqlite:///{ledger}"
            db = open_ledger(db_url)
            self.display.step("Anvil running", f"{chain.url}, chain id {w3.eth.chain_id}")

            def cosign(spec: DevnetSpec) -> DevnetSpec:
                return cosigners.enter_context(devnet_cosigners(spec, db_url, out / "cosign"))

            world = build_world(w3, chain.url, db, db_url, self.population, self.window, self.display, cosign)
            self._describe(world)
            self.record.seconds["setup"] = time.monotonic() - started
            t0 = time.monotonic()
            observer = self.replay(world)
            self.record.seconds["replay"] = time.monotonic() - t0
            t0 = time.monotonic()
            observer.finish(chain.url, out)
            self.record.seconds["checks"] = time.monotonic() - t0
            db.dispose()
        return self.record

    def _describe(self, world: World) -> None:
        self.record.vault, self.record.chain_id = world.spec.vault, world.spec.chain_id
        for m in world.members.values():
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

    def replay(self, world: World) -> Observer:
        """Hour by hour: marks, trades, one batch, the engine's calls and defaults, the close-out, the picture,
        the members' reactions."""
        w = self.window
        self.display.start(len(w), f"{w.name}: {w.note}")
        t_chain0 = world.chain_time()
        market = Market(world, w, self.population, self.opts.seed, self.journal)
        members = Members(world, self.journal, len(w))
        observer = Observer(world, self.journal, t_chain0)
        wall0 = time.monotonic()
        per_tick = HOUR / self.opts.speed if self.opts.speed > 0 else 0.0
        for k in range(len(w)):
            self.journal.tick = k
            if k:
                world.advance_to(t_chain0 + k * HOUR)
            now = world.chain_time()
            market.publish_marks(k, now)
            world.refresh_status()
            trades = market.trades(k)
            market.submit(trades, now, k)
            before = world.venue_positions()
            observer.batch(world.engine.step(), trades, before, k)
            observer.calls()
            close_out(k, world, market, members, observer)
            states = observer.snapshot(k, world.chain_time())
            members.react(k, now, states)
            observer.status(k)
            if per_tick:
                time.sleep(max(0.0, wall0 + (k + 1) * per_tick - time.monotonic()))
        self.display.stop_live()
        return observer
