"""Load test of the HTTP API on loopback: uvicorn in a subprocess, httpx clients in threads.

Bounded and self-stopping: each phase runs for `--seconds` (default 8) and the server is terminated at
the end, whatever happens. Beside each phase's rate it prints the server process's own CPU time per unit
(user + system, all its threads, from /proc) and its inverse, units per server CPU-second: what one
process does on one core of its own, a figure that other jobs on the machine change far less than the
wall-clock rate (the clients run in this process, on the same cores). Phases: bulk fill submission
(`--bulk` fills per request), single fills, and authenticated reads (margin), each with `--concurrency`
clients. Fills are signed before the clock starts,
so the figures are the server's (validation, signature recovery, durable commit), not the client's.

    .venv/bin/python scripts/bench_api.py [--db URL] [--seconds 8] [--concurrency 8] [--bulk 500]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from coincurve import PrivateKey
from eth_account import Account

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.api.signing import api_domain, sign_request  # noqa: E402
from offchain.core.fills import Fill, fills_domain  # noqa: E402
from offchain.ingest import registry  # noqa: E402
from offchain.ledger.db import open_ledger  # noqa: E402
from offchain.ledger.market import record_observation  # noqa: E402
from offchain.marketdata.observations import Observation  # noqa: E402

CHAIN_ID, VAULT = 31337, "0x" + "ab" * 20
VENUE = Account.from_key("0x" + "11" * 32)
MEMBERS = [Account.from_key("0x" + f"{n:02x}" * 32) for n in range(0xA0, 0xA8)]
MARK = 60_000 * 10**6
_VENUE_KEY = PrivateKey(bytes(VENUE.key))  # coincurve: signing 100k fills takes seconds, not minutes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(url: str) -> None:
    engine = open_ledger(url)
    now = time.time_ns() // 1_000_000
    with engine.begin() as conn:
        registry.register_venue(conn, "bench", VENUE.address, "dex")
        registry.approve_venue(conn, "bench")
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_000, 10**9, 1)
        registry.map_symbol(conn, "bench", "BTC-PERP", "BTC-USD-PERP")
        for i, m in enumerate(MEMBERS):
            registry.admit_member(conn, 10 + i, m.address, f"m{i}", "market_maker", "tier1", "professional")
            registry.grant(conn, 10 + i, "BTC-USD-PERP")
        record_observation(conn, Observation("BTC-USD-PERP", "bench", MARK, now))
    engine.dispose()


def signed_fills(prefix: str, n: int) -> list[dict[str, Any]]:
    domain = fills_domain(CHAIN_ID, VAULT)
    now = time.time_ns() // 1_000_000
    out = []
    for i in range(n):
        buyer, seller = MEMBERS[i % 8], MEMBERS[(i + 1) % 8]
        f = Fill(
            venue="bench",
            venue_fill_id=f"{prefix}-{i}",
            symbol="BTC-PERP",
            buyer=buyer.address,
            seller=seller.address,
            qty=1_000_000 + i,
            price=MARK,
            ts=now,
        )
        sig = _VENUE_KEY.sign_recoverable(f.digest(domain), hasher=None)  # r ‖ s ‖ v (v in {0, 1})
        d = f.model_dump()
        d["qty"], d["price"] = str(d["qty"]), str(d["price"])
        out.append({"fill": d, "signature": "0x" + bytes(sig).hex()})
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (every thread), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    name: str, base: str, seconds: float, concurrency: int, make_request: Any, units_per_request: int, server_pid: int
) -> dict[str, Any]:
    cpu0 = process_cpu_s(server_pid)
    stop = time.monotonic() + seconds
    counts = [0] * concurrency
    errors = [0] * concurrency
    latencies: list[list[float]] = [[] for _ in range(concurrency)]

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            i = 0
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = make_request(client, k, i)
                latencies[k].append(time.perf_counter() - t0)
                if r.status_code == 200:
                    counts[k] += 1
                else:
                    errors[k] += 1
                i += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t0
    server_cpu = process_cpu_s(server_pid) - cpu0
    lat = sorted(x for ls in latencies for x in ls)
    ok = sum(counts)
    units = ok * units_per_request
    return {
        "phase": name,
        "requests_ok": ok,
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(ok / elapsed, 1),
        "units_per_s": round(ok * units_per_request / elapsed, 1),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1) if lat else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_unit": round(server_cpu / units * 1e6, 1) if units else None,
        "units_per_server_cpu_s": round(units / server_cpu, 1) if server_cpu > 0 else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=None, help="ledger URL (default: a fresh SQLite file)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--single-concurrency", type=int, default=32, help="clients of the single-fill phase")
    ap.add_argument("--bulk", type=int, default=1_000)
    ap.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL 16 (pgserver) as the ledger")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    pg = None
    if args.postgres:
        import pgserver

        pg = pgserver.get_server(tempfile.mkdtemp(prefix="cc-bench-pg-"), cleanup_mode="stop")
    url = args.db or (pg.get_uri() if pg else f"sqlite:///{Path(tempfile.mkdtemp(prefix='cc-bench-')) / 'api.db'}")
    populate(url)
    port = free_port()
    env = {
        **os.environ,
        "CROSSCLEAR_API_CHAIN_ID": str(CHAIN_ID),
        "CROSSCLEAR_API_VAULT": VAULT,
        "CROSSCLEAR_API_OPERATOR_ADDRESS": MEMBERS[0].address,
        "CROSSCLEAR_API_RATE_PER_S": "1000000",
        "CROSSCLEAR_API_BURST": "1000000",
        "CROSSCLEAR_API_FILL_RATE_PER_S": "10000000",
        "CROSSCLEAR_API_FILL_BURST": "10000000",
        "CROSSCLEAR_API_IP_RATE_PER_S": "1000000",
        "CROSSCLEAR_API_IP_BURST": "1000000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli.main", "serve", "--db", url, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start: " + (server.stderr.read().decode() if server.stderr else ""))
            time.sleep(0.2)

        # Pre-signed pools, enough for the phase at generous rates (each worker cycles through its own).
        per_worker_bulks = 12  # fresh fills for ~12 s of bulk load at ~4k fills/s per worker pool
        bulks = [
            [signed_fills(f"b{k}-{j}", args.bulk) for j in range(per_worker_bulks)] for k in range(args.concurrency)
        ]
        singles = [signed_fills(f"s{k}", 3000) for k in range(args.single_concurrency)]

        def bulk_req(c: httpx.Client, k: int, i: int) -> httpx.Response:
            return c.post("/v1/venues/bench/fills/bulk", json={"fills": bulks[k][i % per_worker_bulks]})

        def single_req(c: httpx.Client, k: int, i: int) -> httpx.Response:
            return c.post("/v1/venues/bench/fills", json=singles[k][i % 3000])

        domain = api_domain(CHAIN_ID, VAULT)
        exp = int(time.time()) + 600
        login = sign_request(MEMBERS[1].key, domain, "POST", "/v1/auth/login", {"purpose": "login"}, 1, exp)
        token = httpx.post(base + "/v1/auth/login", json=login).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}

        def read_req(c: httpx.Client, k: int, i: int) -> httpx.Response:
            return c.get("/v1/members/11/margin", headers=headers)

        results.append(run_phase("bulk fills", base, args.seconds, args.concurrency, bulk_req, args.bulk, server.pid))
        results.append(
            run_phase("single fills", base, args.seconds, args.single_concurrency, single_req, 1, server.pid)
        )
        results.append(run_phase("margin reads", base, args.seconds, args.concurrency, read_req, 1, server.pid))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if pg is not None:
            pg.cleanup()
    backend = url.split(":", 1)[0]
    load = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(
            json.dumps({"backend": backend, "concurrency": args.concurrency, "load_average": load, "results": results})
        )
    else:
        print(f"load average {load}")
        for r in results:
            print(
                f"{backend} {r['phase']:>13}: {r['units_per_s']:>9} /s  ({r['requests_per_s']} req/s, "
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['errors']} errors; server CPU "
                f"{r['server_cpu_us_per_unit']} us each, {r['units_per_server_cpu_s']} per CPU-second)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
