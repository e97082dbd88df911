"""A devnet history for the auditor: deposits, fills from three venues, mark moves, funding, a liquidity
advance and its repayment, withdrawals requested, cancelled and executed. Shared by tests/audit and
scripts/bench_audit.py."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from eth_account import Account
from sqlalchemy import select
from web3.types import RPCEndpoint

from offchain.chain.transactions import TxSender
from offchain.chain.vault import vault_sender
from offchain.core.fills import Fill, fills_domain
from offchain.devnet.bootstrap import DEVNET_FUNDING_INTERVAL_S as FUNDING_INTERVAL_S
from offchain.devnet.runtime import settlement_engine
from offchain.ingest.service import AckStatus, Ingestor
from offchain.ledger import schema as t
from offchain.ledger.prices import record_funding
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import ChainClock
from offchain.settlement.engine import SettlementEngine
from tests.settlement.conftest import BTC_QTY, USDC, Devnet

MM, FUND, RETAIL, DAO = "Alpha Market Making", "Macro Fund", "DEX retail pool", "Protocol DAO"
VENUE_SYMBOLS = {
    "dex-perp": ("BTC-PERP", "ETH-PERP"),
    "cex": ("BTCUSDT", "ETHUSDT"),
    "otc-desk": ("XBT/USD", "ETH/USD"),
}
ETH_QTY = 10**8  # the devnet's ETH-USD-PERP also counts 1e-8 units


@dataclass
class HistoryStats:
    batches: int = 0
    fills: int = 0
    seconds: float = 0.0


def build_history(
    d: Devnet, rounds: int, fills_per_round: int = 6, seed: int = 7, engine: SettlementEngine | None = None
) -> HistoryStats:
    """`rounds` batches with fills from all three venues and moving marks, plus the side events above.
    `engine`: the one to settle with (default: the devnet's, holding the risk-signer keys)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    stats = HistoryStats()
    for name, usd in ((MM, 2_000_000), (FUND, 500_000), (RETAIL, 300_000), (DAO, 1_000)):
        d.deposit(name, usd)
    btc, eth = 20_000.0, 1_500.0
    d.prices(btc=btc, eth=eth)
    # The history warps the chain (funding intervals, withdrawal delays): its time is the chain's, for ingest
    # (fill timestamps within the batch's ingest window) and for the engine alike.
    ing = Ingestor(d.db, fills_domain(d.spec.chain_id, d.spec.vault), clock=d.now_ms)
    engine = engine or settlement_engine(d.spec, d.db, BuilderConfig(heartbeat_s=0), clock=ChainClock(d.vault.w3))
    wid = d.vault.request_withdrawal(_sender(d, FUND), 0, 1_000 * USDC, d.member(FUND).address)
    d.vault.cancel_withdrawal(_sender(d, FUND), wid)
    traders = [MM, FUND, RETAIL]
    n = 0
    for r in range(rounds):
        batch: list[tuple[Fill, bytes]] = []
        active = _active(d, traders)  # the engine's margin calls make an under-margined trader close-only
        if r == 0:
            # The DAO goes long 1 BTC with 1,000 USDC of cash: the fall below makes it need an advance.
            batch.append(_fill(d, "otc-desk", f"f-{n}", "XBT/USD", DAO, MM, BTC_QTY, btc))
            n += 1
        for _ in range(fills_per_round if len(active) >= 2 else 0):
            venue = rng.choice(list(VENUE_SYMBOLS))
            btc_leg = rng.random() < 0.6
            symbol = VENUE_SYMBOLS[venue][0 if btc_leg else 1]
            buyer, seller = rng.sample(active, 2)
            qty = rng.randint(1, 50) * (BTC_QTY if btc_leg else ETH_QTY) // 10
            px = (btc if btc_leg else eth) * (1 + rng.uniform(-0.002, 0.002))
            batch.append(_fill(d, venue, f"f-{n}", symbol, buyer, seller, qty, round(px, 2)))
            n += 1
        ing.refresh()
        acks = ing.submit_many(batch)
        if any(a.status != AckStatus.ACCEPTED for a in acks):
            raise RuntimeError(f"fills refused: {[a for a in acks if a.status != AckStatus.ACCEPTED]}")
        stats.fills += len(batch)
        if r == 1:
            btc *= 0.88  # the DAO's 1 BTC long loses 2,400: more than its cash
        else:
            btc *= 1 + rng.uniform(-0.01, 0.01)
        eth *= 1 + rng.uniform(-0.015, 0.015)
        d.prices(btc=btc, eth=eth)
        if r % 5 == 2:
            # Funding is applied once per registered interval (an hour on devnet): the chain's clock moves
            # an hour, and fills and ingest follow the chain's clock (as in the demo).
            _advance(d, FUNDING_INTERVAL_S)
            d.prices(btc=btc, eth=eth)
            with d.db.begin() as conn:
                funding_ts = d.now_ms() - 1
                record_funding(conn, "BTC-USD-PERP", funding_ts, rng.choice([-1500, 800, 2500]))
        if r == 3:
            d.deposit(DAO, 5_000)  # repays the advance first
        result = engine.step()
        if result.action != "settled":
            raise RuntimeError(f"round {r}: engine step {result}")
        stats.batches += 1
    # A withdrawal executed after the delay (chain time moves an hour; no batch after this) and one
    # left pending.
    # (A long history may leave a trader without the cash or margin for it: then it is skipped.)
    w1 = _withdraw(d, FUND, 2_000 * USDC)
    _withdraw(d, RETAIL, 500 * USDC)
    d.vault.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [3_601])
    d.vault.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    if w1 is not None:
        d.vault.execute_withdrawal(_sender(d, FUND), w1)
    stats.seconds = time.perf_counter() - started
    return stats


def _advance(d: Devnet, seconds: int) -> None:
    d.vault.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    d.vault.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def _fill(
    d: Devnet, venue: str, fid: str, symbol: str, buyer: str, seller: str, qty: int, usd: float
) -> tuple[Fill, bytes]:
    """A fill signed by its venue's devnet key, stamped with the chain's clock."""
    v = next(x for x in d.spec.venues if x.name == venue)
    fill = Fill(
        venue=venue,
        venue_fill_id=fid,
        symbol=symbol,
        buyer=d.member(buyer).address,
        seller=d.member(seller).address,
        qty=qty,
        price=round(usd * USDC),
        ts=d.now_ms(),
    )
    digest = fill.digest(fills_domain(d.spec.chain_id, d.spec.vault))
    return fill, bytes(Account.unsafe_sign_hash(digest, v.key).signature)


def _withdraw(d: Devnet, name: str, amount: int) -> int | None:
    f = d.vault.contract.functions
    account = d.member(name).account
    if f.balanceOf(account, 0).call() < amount or f.freeCollateral(account).call() < amount:
        return None
    return int(d.vault.request_withdrawal(_sender(d, name), 0, amount, d.member(name).address))


def _active(d: Devnet, names: list[str]) -> list[str]:
    with d.db.connect() as conn:
        status = {int(a): str(s) for a, s in conn.execute(select(t.members.c.account, t.members.c.status))}
    return [n for n in names if status.get(d.member(n).account) == "active"]


def _sender(d: Devnet, name: str) -> TxSender:
    return vault_sender(d.vault.w3, d.member(name).key)
