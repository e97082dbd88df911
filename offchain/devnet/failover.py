"""Failover campaign: a leader engine and hot standbys on one PostgreSQL ledger; the leader is SIGKILLed at
chosen points of a batch (before signing, after sending, after inclusion) while venues keep sending fills,
and a standby takes over each time. Afterwards the chain is reconciled against the ledger (every fill settled
exactly once) and the longest gap between two batches on-chain is reported.

Each engine is a separate process (`python -m offchain.devnet.failover --devnet FILE --db URL --die-at STAGE
--after N`) built by the production wiring and stood up by `run_node` exactly as `crossclear engine`; the only
addition is an observer that kills its own process at the planned stage of its (N+1)-th batch as leader.
tests/settlement/test_failover.py runs 20 kills in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from offchain.chain.anvil import Anvil
from offchain.chain.vault import VaultClient
from offchain.devnet.bootstrap import instrument_specs
from offchain.devnet.chaos import Feeder, _drained, funded_devnet
from offchain.devnet.reconcile import reconcile
from offchain.devnet.runtime import engine_settings
from offchain.devnet.spec import DevnetSpec
from offchain.ledger.db import open_ledger
from offchain.ledger.leader import open_ledger_serialised

STAGES = ("signing", "sent", "included")  # before signing, after sending, after inclusion
# The longest time the campaign waits for the next planned leader death before it calls the cluster stuck.
STALL_S = 120.0


@dataclass
class FailoverReport:
    kills: int
    kills_by_stage: Counter[str]
    batches: int
    fills_acknowledged: int
    longest_gap_s: float  # longest time between two consecutive batches appearing on-chain
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class BatchWatch(threading.Thread):
    """Polls the vault's sequence and records when each batch appears (wall clock)."""

    def __init__(self, vault: VaultClient, poll_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.vault, self.poll_s = vault, poll_s
        self.stop = threading.Event()
        self.seen: list[tuple[float, int]] = []

    def run(self) -> None:
        last = -1
        while not self.stop.is_set():
            seq = self.vault.last_sequence()
            if seq != last:
                self.seen.append((time.monotonic(), seq))
                last = seq
            time.sleep(self.poll_s)

    def longest_gap(self) -> float:
        """Between engine batches: from the first batch an engine settled (the first entry is the chain as
        the campaign found it, before any engine had started)."""
        times = [t for t, _ in self.seen[1:]]
        return max((b - a for a, b in pairwise(times)), default=0.0)


def _node_cmd(devnet_file: Path, db_url: str, die_at: str | None, after: int, ready: Path) -> list[str]:
    cmd = [sys.executable, "-m", "offchain.devnet.failover", "--devnet", str(devnet_file), "--db", db_url]
    cmd += ["--ready-dir", str(ready)]
    if die_at is not None:
        cmd += ["--die-at", die_at, "--after", str(after)]
    return cmd


def run_failover(workdir: Path, kills: int, db_url: str, seed: int = 1, standbys: int = 2) -> FailoverReport:
    """`kills` leader deaths, each at a random stage, with `standbys` engines waiting at any time."""
    if not db_url.startswith(("postgresql", "postgres")):
        raise ValueError("failover needs PostgreSQL: SQLite is one node")
    started = time.monotonic()
    rng = random.Random(seed)
    # Every stage at least kills // 3 times, in a random order.
    plan = [STAGES[i % len(STAGES)] for i in range(kills)]
    rng.shuffle(plan)
    workdir.mkdir(parents=True, exist_ok=True)
    with Anvil(log_path=workdir / "anvil.log") as anvil:
        db = open_ledger(db_url)
        spec, vault, devnet_file = funded_devnet(anvil, db, workdir)
        feeder = Feeder(spec, db, rng)
        feeder.publish_prices()
        feeder.start()
        watch = BatchWatch(vault)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        by_stage: Counter[str] = Counter()
        ready = workdir / "ready"
        ready.mkdir(exist_ok=True)
        with open(workdir / "engines.log", "ab") as log:

            def spawn(die_at: str | None) -> tuple[subprocess.Popen[bytes], str | None]:
                cmd = _node_cmd(devnet_file, db_url, die_at, rng.randint(0, 2), ready)
                return subprocess.Popen(cmd, stdout=log, stderr=log, env=env), die_at

            queue = list(plan)
            alive = [spawn(queue.pop(0) if queue else None) for _ in range(1 + standbys)]
            watch.start()
            # Liveness, not speed: the campaign fails when no planned death happens for STALL_S (a leader
            # that never reaches its stage, a standby that never takes over), however long the whole run
            # takes on a loaded machine.
            last_death = time.monotonic()
            while sum(by_stage.values()) < kills:
                if time.monotonic() - last_death > STALL_S:
                    raise TimeoutError(
                        f"only {sum(by_stage.values())} of {kills} leader deaths happened (none for {STALL_S:.0f} s)"
                    )
                for proc, stage in list(alive):
                    code = proc.poll()
                    if code is None:
                        continue
                    alive.remove((proc, stage))
                    (ready / str(proc.pid)).unlink(missing_ok=True)
                    if code != -signal.SIGKILL or stage is None:
                        raise RuntimeError(f"engine {proc.pid} exited with {code} (planned death: {stage})")
                    by_stage[stage] += 1
                    last_death = time.monotonic()
                    alive.append(spawn(queue.pop(0) if queue else None))
                time.sleep(0.05)
            feeder.stop.set()
            feeder.join()
            # The survivors have no planned death left only if the queue ran dry; drain with one that has none.
            alive.append(spawn(None))
            try:
                drain_by = time.monotonic() + 120
                while time.monotonic() < drain_by and not _drained(vault, db):
                    for proc, stage in list(alive):
                        if proc.poll() is not None:  # a planned death among the survivors: replace it
                            alive.remove((proc, stage))
                            alive.append(spawn(None))
                    time.sleep(0.2)
            finally:
                for proc, _ in alive:
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait(timeout=30)
        watch.stop.set()
        watch.join()
        problems = feeder.errors + reconcile(vault, db, feeder.acked)
        if not _drained(vault, db):
            problems.append("fills or a batch still in flight after the drain")
        batches = vault.last_sequence()
        db.dispose()
    return FailoverReport(
        kills=sum(by_stage.values()),
        kills_by_stage=by_stage,
        batches=batches,
        fills_acknowledged=len(feeder.acked),
        longest_gap_s=watch.longest_gap(),
        problems=problems,
        seconds=time.monotonic() - started,
    )


# ---------------------------------------------------------------- one engine process


def node_main(argv: list[str] | None = None) -> int:
    """One engine of the campaign: the production wiring and `run_node`, plus its planned death."""
    from offchain.app.wiring import build_engine, engine_lock, run_node
    from offchain.core.logs import configure_json_logging

    p = argparse.ArgumentParser(description="one engine of the failover campaign")
    p.add_argument("--devnet", type=Path, required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--die-at", choices=STAGES, default=None)
    p.add_argument("--after", type=int, default=0, help="batches to finish as leader before dying")
    p.add_argument("--ready-dir", type=Path, required=True, help="where standbys announce they are up")
    args = p.parse_args(argv)
    configure_json_logging()
    spec = DevnetSpec.load(args.devnet)
    settings = engine_settings(spec, args.db).model_copy(
        update={"interval_s": 0.2, "leader": engine_settings(spec, args.db).leader.model_copy(update={"poll_s": 0.1})}
    )
    seen = Counter[str]()

    def warm_standby() -> bool:
        """Another engine is up and waiting (the campaign measures takeovers, not process start-ups)."""
        return any(f.name != str(os.getpid()) for f in args.ready_dir.iterdir())

    def observer(stage: str, _sequence: int) -> None:
        seen[stage] += 1
        if stage == args.die_at and seen[stage] > args.after and warm_standby():
            os.kill(os.getpid(), signal.SIGKILL)

    db = open_ledger_serialised(settings.db_url)
    engine = build_engine(
        settings, spec.chain_id, spec.vault, db, instruments=instrument_specs(spec), observer=observer
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    (args.ready_dir / str(os.getpid())).touch()  # loaded and about to stand by
    run_node(engine, engine_lock(settings, db, spec.vault), settings.interval_s, stop=stopping.is_set)
    return 0


if __name__ == "__main__":
    sys.exit(node_main())
