"""The demo's observer: it watches what the engine, the vault and the auction house did and writes it down —
the journal of events, each batch with its venue-only counterfactual, each tick's margin and positions, the
margin calls and defaults as the ledger and the vault record them, the live panel, and the final checks
(reconcile, solvency, the independent auditor). It decides nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from offchain.chain.signers import SignaturesRefusedError
from offchain.core.batch import OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, Batch, Transfer
from offchain.core.waterfall import Layer
from offchain.defaults.calls import AssetMark, MemberState, equity
from offchain.defaults.house import StepReport
from offchain.demo import defaults as dm
from offchain.demo.display import Display, Status
from offchain.demo.flow import Trade
from offchain.demo.history import Window
from offchain.demo.record import BatchRow, Event, MemberTick, RunRecord, Tick
from offchain.demo.world import DECIMALS, DEMO_DEFAULTS, INSTRUMENT, QTY, USD, World
from offchain.devnet.reconcile import reconcile
from offchain.ledger.batches import BatchPayload
from offchain.ledger.prices import LedgerPrices
from offchain.ledger.views import batches
from offchain.ledger.views import defaults as defaults_view
from offchain.risk.platform import directional_imbalance
from offchain.settlement.engine import StepResult

# Gas of Vault.settle measured by scripts/bench_gas.py (docs/performance.md): fixed per batch, per transfer.
# The with/without-netting comparison applies this one model to both sides. A fit on the demo's own batches
# is no good: they are small and their gas is dominated by first writes of new slots and by requirement,
# mark and default rows, so a least-squares fit even gives a negative cost per transfer.
BENCH_GAS_MODEL = (76_496.0, 5_647.0)


class Journal:
    """The run's events, stamped with the tick's hour, as the report and the live panel show them."""

    def __init__(self, record: RunRecord, display: Display, window: Window) -> None:
        self.record, self.display, self.window = record, display, window
        self.tick = 0

    def event(self, kind: str, member: str, text: str, amount: float = 0.0) -> None:
        hour = self.window.label(self.tick) if self.tick < len(self.window) else "end"
        self.record.events.append(Event(self.tick, hour, kind, member, text, amount))
        self.display.event(f"[{hour}] {text}")


class Observer:
    def __init__(self, world: World, journal: Journal, t_chain0: int) -> None:
        self.world, self.journal = world, journal
        self.record, self.window, self.display = journal.record, journal.window, journal.display
        self.t_chain0 = t_chain0
        self.last_call_id = 0
        self.fills_seen = 0
        self.default_note = ""
        self.states: dict[str, MemberState] = {}

    def hhmm(self, chain_s: int) -> str:
        """A chain moment on the window's clock (the chain's clock is history's, shifted)."""
        start = self.window.hours[0].astype("datetime64[s]")
        return str(start + np.timedelta64(chain_s - self.t_chain0, "s")).replace("T", " ")[:16] + " UTC"

    # ---------------------------------------------------------------- batches

    def batch(self, result: StepResult, trades: list[Trade], before: dict[tuple[int, str, str], int], k: int) -> None:
        """One settled batch, beside what venues settling alone would have needed for the same trades."""
        w = self.world
        if result.action == "abandoned":
            self.journal.event("alert", "", f"batch {result.sequence} refused by the vault: released for the next one")
            return
        if result.action not in ("settled", "recovered") or result.sequence is None:
            return
        with w.db.connect() as conn:
            raw = batches.payload_of(conn, result.sequence)
        payload = BatchPayload.from_json(raw)
        after = w.venue_positions()
        # Without cross-venue clearing each venue settles its own members: one transfer per member with a
        # position or a fill on that venue, plus the venue's fee account when it had fills.
        by_venue: dict[str, set[int]] = defaultdict(set)
        for m, _i, v in set(before) | set(after):
            by_venue[v].add(m)
        account = {n: mb.account for n, mb in w.members.items()}
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

    # ---------------------------------------------------------------- each tick's picture

    def _asset_marks(self) -> dict[int, AssetMark]:
        out = {}
        for symbol, asset in self.world.spec.assets.items():
            price, haircut = self.world.vault.contract.functions.markOf(asset).call()
            out[asset] = AssetMark(int(price), int(haircut), DECIMALS[symbol])
        return out

    def _member_states(self) -> dict[str, MemberState]:
        vault, marks = self.world.vault, self._asset_marks()
        out = {}
        for n, m in self.world.members.items():
            balances = {a: vault.balance(m.account, a) for a in self.world.spec.assets.values()}
            debt = vault.debt(m.account)
            im, mm = vault.contract.functions.requirementOf(m.account).call()
            out[n] = MemberState(m.account, equity(balances, debt, marks), debt, int(im), int(mm))
        return out

    def snapshot(self, k: int, now: int) -> dict[str, MemberState]:
        """Each member's margin, collateral and net positions (cleared, and each venue margining alone), and
        the platform's directional imbalance; returns the members' on-chain states."""
        w = self.world
        states = self._member_states()
        self.states = states
        venue_pos = w.venue_positions()
        net: dict[tuple[int, str], int] = defaultdict(int)
        for (m, i, _v), q in venue_pos.items():
            net[(m, i)] += q
        margin = w.engine.builder.margin
        tiers = [(mb.account, mb.profile.tier) for mb in w.members.values()]
        marks = {INSTRUMENT[u]: round(self.window.price(k, u) * USD) for u in INSTRUMENT}
        with w.db.begin() as conn:
            cprices = w.engine.builder.collateral_prices(conn, LedgerPrices(conn), now * 1000)
        venue_only: dict[int, float] = defaultdict(float)
        if cprices is not None:  # each venue margining its own slice alone, for the netting comparison
            for venue in {v for (_m, _i, v) in venue_pos}:
                positions = {(m, i): q for (m, i, v), q in venue_pos.items() if v == venue}
                for acct, mg in margin.requirements(tiers, positions, marks, {}, cprices).items():
                    venue_only[acct] += mg.im / USD
        members = {}
        for n, mb in w.members.items():
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
        groups = sorted({mb.profile.group for mb in w.members.values()})
        gidx = np.array([groups.index(mb.profile.group) for mb in w.members.values()], dtype=np.int64)
        pos = np.array([[members[n].net_btc, members[n].net_eth] for n in w.members])
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
        return states

    def status(self, k: int) -> None:
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

    # ---------------------------------------------------------------- calls, defaults, auctions, waterfall

    def calls(self) -> None:
        """The engine's margin-call decisions of the batches just settled (ledger `margin_calls`), each checked
        against the vault's own record (`marginCallOf`, `inDefault`)."""
        w = self.world
        f = w.vault.contract.functions
        for r in dm.call_rows(w.db, self.last_call_id):
            self.last_call_id = r.id
            n = w.names.get(r.account, f"account {r.account}")
            chain_amount, chain_deadline = (int(x) for x in f.marginCallOf(r.account).call())
            state = (
                f"equity ${r.equity / USD:,.0f}, MM ${r.mm / USD:,.0f}, IM ${r.im / USD:,.0f}, "
                f"debt ${r.debt / USD:,.0f}"
            )
            if r.verdict in ("issue", "raise"):
                onchain = (
                    f"on-chain marginCallOf ${chain_amount / USD:,.0f} by {self.hhmm(chain_deadline)}"
                    if (chain_amount, chain_deadline) == (r.amount, r.deadline)
                    else "NOT the vault's marginCallOf"
                )
                what = "margin call to" if r.verdict == "issue" else "margin call raised for"
                self.journal.event(
                    "call",
                    n,
                    f"{what} {n}: ${r.amount / USD:,.0f} by {self.hhmm(r.deadline)}"
                    f"{' (deep breach: 30 min)' if r.deep else ''} ({state}); {onchain}; close-only until cured",
                    r.amount / USD,
                )
            elif r.verdict == "cure":
                self.journal.event(
                    "cure", n, f"{n} cured its margin call ({state}); on-chain call cleared: {chain_amount == 0}"
                )
            elif r.verdict == "default":
                in_default = bool(f.inDefault(r.account).call())
                self.journal.event(
                    "default",
                    n,
                    f"{n} did not cure by the deadline: the engine DECLAREs the default in batch {r.batch_sequence} "
                    f"({state}); on-chain inDefault = {in_default}; its positions go to a close-out auction",
                    r.equity / USD,
                )
                self.default_note = f"{n} in default: close-out auction"

    def auction(self, report: StepReport) -> None:
        names = self.world.names
        for res in report.cleared:
            won = ", ".join(
                f"{names.get(a.account, a.account)} {a.qty / QTY:,.2f} at ${a.price / USD:,.0f}" for a in res.awards
            )
            house = (
                f"; the house takes the unbid {res.residual_qty / QTY:,.2f} at ${res.residual_price / USD:,.0f}"
                if res.residual_qty
                else ""
            )
            self.journal.event(
                "auction",
                names.get(res.tranche.defaulter, ""),
                f"tranche {res.tranche.index} cleared: {won or 'no bids'}{house}",
            )
        for tr in report.opened:
            n = names.get(tr.defaulter, str(tr.defaulter))
            side = "sells" if tr.defaulter_sells else "buys"
            self.journal.event(
                "auction",
                n,
                f"auction tranche {tr.index}: {n} {side} {tr.qty / QTY:,.2f} {tr.instrument} "
                f"(mark ${tr.mark / USD:,.0f}), bids open for {DEMO_DEFAULTS.auction.interval_s // 60} min",
            )
            self.default_note = f"{n} in default: tranche {tr.index} open"

    def waterfall(self, default_id: int, sequence: int | None) -> None:
        if sequence is None:
            return
        w = self.world
        with w.db.connect() as conn:
            rows = defaults_view.chain_draws(conn, default_id, sequence)
            closed = defaults_view.default_record(conn, default_id)
        symbols = {a: s for s, a in w.spec.assets.items()}
        for r in rows:
            n = dm.LAYER_NAMES[Layer(r.layer)]
            token = symbols.get(r.asset, str(r.asset))
            amount = r.amount / 10 ** DECIMALS.get(token, 6)
            self.journal.event(
                "waterfall",
                w.names.get(r.account, "operator capital" if r.account == 3 else f"account {r.account}"),
                f"WaterfallDraw {n}: {amount:,.4f} {token} worth ${r.value / USD:,.0f} (vault event, batch {sequence})",
                r.value / USD,
            )
        if closed.status == "closed":
            self.journal.event(
                "waterfall",
                "",
                f"default closed in batch {sequence}: loss ${closed.covered / USD:,.0f} covered by the waterfall "
                "on-chain (COVER, CLOSE); no ADL, no outside money",
                closed.covered / USD,
            )
            self.default_note = f"default closed: ${closed.covered / USD:,.0f} covered by the waterfall, no ADL"

    # ---------------------------------------------------------------- the end

    def finish(self, url: str, out_dir: Path) -> None:
        """Drain, reconcile the ledger with the chain, check solvency, sum up the defaults, run the auditor."""
        w = self.world
        for _ in range(10):  # drain: settle whatever is still pending
            if w.engine.step().action == "idle":
                break
        self.record.gas_model = BENCH_GAS_MODEL
        problems = reconcile(w.vault, w.db)
        self.record.reconcile_problems = problems
        self.display.step(
            "ledger reconciled with the chain" if not problems else f"reconciliation found {len(problems)} problem(s)",
            "every fill settled once, positions and cash agree" if not problems else problems[0],
        )
        for symbol, asset in w.spec.assets.items():
            held = int(w.vault.token(asset).functions.balanceOf(w.vault.address).call())
            owed = w.vault.total_owed(asset)
            self.record.solvency.append(
                {"symbol": symbol, "held": held / 10 ** DECIMALS[symbol], "owed": owed / 10 ** DECIMALS[symbol]}
            )
        solvent = all(a["held"] >= a["owed"] for a in self.record.solvency)
        self.display.step(
            "solvency" if solvent else "INSOLVENT", "for every token the vault holds at least what it owes"
        )
        symbols = {a: (sym, DECIMALS[sym]) for sym, a in w.spec.assets.items()}
        self.record.defaults = dm.summary(w.db, w.vault, w.names, symbols, self.hhmm)
        self.display.step("default management", str(self.record.defaults["detail"]))
        self.display.step("tampered batch refused", self.propose_tampered())
        self.display.step("co-signed", self.cosigned())
        self.record.audit = run_auditor(url, w.spec.vault, w.db_url, out_dir, self.display.step)

    def propose_tampered(self) -> str:
        """The operator, holding no risk key, proposes to the co-signers a next batch with no context that moves
        $100,000 of a member's cash to its own operator-capital account: the co-signers must refuse it (it never
        reaches the chain, so the rest of the run and the audit are unchanged)."""
        w = self.world
        if w.engine.cosigners is None:
            return "no co-signers to propose to"
        victim = next(m for m in w.members.values() if m.profile.kind == "foundation")
        amount = 100_000 * USD
        batch = Batch(
            sequence=w.vault.last_sequence() + 1,
            prev_hash=w.vault.last_batch_hash(),
            as_of=w.chain_time(),
            transfers=(
                Transfer(account=victim.account, asset=SETTLEMENT_ASSET, amount=-amount),
                Transfer(account=OPERATOR_CAPITAL_ACCOUNT, asset=SETTLEMENT_ASSET, amount=amount),
            ),
        )
        payload = BatchPayload(batch, [], [], {}, {}, [], {}, {}, {})
        try:
            w.engine.cosigners.collect(payload)
        except SignaturesRefusedError as exc:
            self.record.tamper_refused = str(exc)
            return (
                f"the operator proposed batch {batch.sequence} moving $100,000 of {victim.name}'s cash to operator "
                f"capital with no context; not signed: {exc}"
            )
        self.record.tamper_refused = ""
        return f"SIGNED: the co-signers signed a batch taking {victim.name}'s cash (it was not sent)"

    def cosigned(self) -> str:
        """Who signed the demo's batches: the co-signer processes (each says which signer it is and how far it
        has replayed the chain), never the engine, which has no risk key."""
        w = self.world
        if w.engine.signers or w.engine.cosigners is None:
            return "the engine signed its own batches (no co-signers)"
        said = []
        for url in w.spec.cosigners:
            try:
                status = httpx.get(f"{url}/v1/status", timeout=60).json()
                said.append(f"{str(status['signer'])[:10]}… through batch {status['last_sequence']}")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                said.append(f"{url} did not answer ({exc})")
        return (
            f"all {len(self.record.batches)} batches of the run signed by at least {w.spec.threshold} of the "
            f"{len(w.spec.cosigners)} co-signer processes after their own checks; the engine holds no risk key; "
            + "; ".join(said)
        )


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
