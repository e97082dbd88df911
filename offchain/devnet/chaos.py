"""Crash campaign: SIGKILL the settlement engine at random moments while venues keep sending fills,
restart it each time, then reconcile the chain against the ledger (tests/settlement/test_crash.py runs
a short campaign in CI; `scripts/crash_test.py --kills 50` runs the full one)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account

from offchain.chain.anvil import Anvil
from offchain.chain.deploy import mint
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.eip712 import Domain
from offchain.core.fills import Fill, fills_domain
from offchain.devnet.bootstrap import bring_up
from offchain.devnet.reconcile import reconcile
from offchain.devnet.runtime import connect, ingestor
from offchain.devnet.spec import DevnetSpec
from offchain.ingest.service import AckStatus
from offchain.ledger.db import open_ledger
from offchain.ledger.handles import Engine
from offchain.ledger.prices import publish_underlyings
from offchain.ledger.views import batches, fills

USDC = 10**6
MEMBERS = [
    ("Alpha Market Making", "market_maker", "tier1", "professional"),
    ("Beta Market Making", "market_maker", "tier1", "professional"),
    ("Macro Fund", "hedge_fund", "tier2", "buy_side"),
    ("DEX retail pool", "retail_pool", "tier2", "retail"),
    ("Protocol DAO", "dao", "tier2", "treasury"),
]


@dataclass
class CampaignReport:
    kills: int
    batches: int
    fills_acknowledged: int
    duplicates_resent: int
    states_at_kill: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Feeder(threading.Thread):
    """Venues sending signed fills (and sometimes resending one) while marks random-walk."""

    def __init__(self, spec: DevnetSpec, db: Engine, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.spec, self.db, self.rng = spec, db, rng
        self.stop = threading.Event()
        self.acked: set[int] = set()
        self.resent = 0
        self.errors: list[str] = []
        self.prices = {"BTC": 20_000.0, "ETH": 1_500.0}
        self.domain = fills_domain(spec.chain_id, spec.vault)
        self.sent: list[tuple[Fill, bytes]] = []

    def publish_prices(self) -> None:
        publish_underlyings(self.db, self.prices, "chaos")

    def run(self) -> None:
        ing = ingestor(self.spec, self.db)
        n = 0
        while not self.stop.is_set():
            try:
                for u in self.prices:
                    self.prices[u] *= 1 + self.rng.uniform(-0.002, 0.002)
                self.publish_prices()
                items = []
                for _ in range(self.rng.randint(1, 4)):
                    n += 1
                    items.append(random_signed_fill(self.spec, self.domain, self.rng, self.prices, n, max_lots=50))
                if self.sent and self.rng.random() < 0.3:
                    items.append(self.rng.choice(self.sent))  # a venue resends a fill it already sent
                    self.resent += 1
                for (fill, sig), ack in zip(items, ing.submit_many(items), strict=True):
                    if ack.status in (AckStatus.ACCEPTED, AckStatus.DUPLICATE) and ack.fill_id is not None:
                        self.acked.add(ack.fill_id)
                        self.sent.append((fill, sig))
                    elif ack.status == AckStatus.REJECTED:
                        self.errors.append(f"{fill.venue_fill_id}: {ack.reason} {ack.detail}")
            except Exception as exc:
                self.errors.append(repr(exc))
            time.sleep(0.05)


def funded_devnet(anvil: Anvil, db: Engine, workdir: Path) -> tuple[DevnetSpec, VaultClient, Path]:
    """The campaigns' devnet: brought up, saved to `workdir/devnet.json` (for the engine subprocesses) and every
    member holding 5M USDC in the vault."""
    spec = bring_up(anvil.web3(), anvil.url, db, MEMBERS, "2022-11-01")
    devnet_file = workdir / "devnet.json"
    spec.save(devnet_file)
    vault = connect(spec)
    operator = vault_sender(vault.w3, spec.operator_key)
    for m in spec.members:
        mint(operator, spec.tokens["USDC"], m.address, 5_000_000 * USDC)
        vault.deposit(vault_sender(vault.w3, m.key), m.address, 0, 5_000_000 * USDC)
    return spec, vault, devnet_file


def random_signed_fill(
    spec: DevnetSpec, domain: Domain, rng: random.Random, prices: Mapping[str, float], n: int, max_lots: int
) -> tuple[Fill, bytes]:
    """Fill number `n` on a random venue between two random members, within 0.1 % of the underlying's
    price, signed by the venue's key."""
    venue = rng.choice(spec.venues)
    symbol, instrument = rng.choice(sorted(venue.symbols.items()))
    buyer, seller = rng.sample(spec.members, 2)
    price = prices[instrument.split("-")[0]] * (1 + rng.uniform(-0.001, 0.001))
    fill = Fill(
        venue=venue.name,
        venue_fill_id=f"{venue.name}-{n}",
        symbol=symbol,
        buyer=buyer.address,
        seller=seller.address,
        qty=rng.randint(1, max_lots) * 10**6,
        price=round(price * USDC),
        ts=int(time.time() * 1000),
    )
    return fill, bytes(Account.unsafe_sign_hash(fill.digest(domain), venue.key).signature)


def _engine_cmd(devnet_file: Path, db_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "offchain.cli.main",
        "engine",
        "--devnet",
        str(devnet_file),
        "--db",
        db_url,
        "--interval",
        "0.2",
    ]


def _state(vault: VaultClient, db: Engine) -> str:
    with db.connect() as conn:
        rows = batches.unconfirmed(conn)
    if not rows:
        return "idle or between batches"
    seq, status = rows[0]
    onchain = vault.last_sequence() >= seq
    return f"{status}, {'on-chain' if onchain else 'not on-chain'}"


def run_campaign(workdir: Path, kills: int, seed: int = 1, db_url: str | None = None) -> CampaignReport:
    started = time.monotonic()
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    with Anvil(log_path=workdir / "anvil.log") as anvil:
        db_url = db_url or f"sqlite:///{workdir / 'ledger.db'}"
        db = open_ledger(db_url)
        spec, vault, devnet_file = funded_devnet(anvil, db, workdir)
        feeder = Feeder(spec, db, rng)
        feeder.publish_prices()
        feeder.start()
        states: Counter[str] = Counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(workdir / "engine.log", "ab") as log:
            for _ in range(kills):
                proc = subprocess.Popen(_engine_cmd(devnet_file, db_url), stdout=log, stderr=log, env=env)
                # Let it get going (start-up loads the risk model), so that kills land among batches.
                _wait_for_new_batch(db, proc, timeout=30)
                time.sleep(rng.uniform(0.0, 1.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                states[_state(vault, db)] += 1
            feeder.stop.set()
            feeder.join()
            final = subprocess.Popen(_engine_cmd(devnet_file, db_url), stdout=log, stderr=log, env=env)
            deadline = time.monotonic() + 180
            try:
                while time.monotonic() < deadline and not _drained(vault, db):
                    if final.poll() is not None:
                        break
                    time.sleep(0.5)
            finally:
                final.terminate()
                final.wait(timeout=30)
        problems = feeder.errors + reconcile(vault, db, feeder.acked)
        batches = vault.last_sequence()
        db.dispose()
    return CampaignReport(
        kills, batches, len(feeder.acked), feeder.resent, states, problems, time.monotonic() - started
    )


def _last_batch(db: Engine) -> int:
    with db.connect() as conn:
        return batches.last_sequence(conn) or 0


def _wait_for_new_batch(db: Engine, proc: subprocess.Popen[bytes], timeout: float) -> None:
    start, deadline = _last_batch(db), time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and _last_batch(db) == start:
        time.sleep(0.05)


def _drained(vault: VaultClient, db: Engine) -> bool:
    with db.connect() as conn:
        pending = fills.has_pending(conn)
        unconfirmed = batches.unconfirmed(conn)
        last = batches.last_sequence(conn)
    return not pending and not unconfirmed and vault.last_sequence() == (last or 0)
