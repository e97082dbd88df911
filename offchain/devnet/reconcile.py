"""Reconcile the ledger against the chain: what the crash test (and an operator) checks after restarts.

Every acknowledged fill is settled exactly once, every batch on-chain is the ledger's batch with the
same sequence, nothing is in flight, positions equal the sum of the settled fills, every member's
on-chain cash equals its deposits plus the transfers of every batch (and its default-fund contributions and
the waterfall's draws), and the ledger's record of the vault's WaterfallDraw events is the vault's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from offchain.chain.vault import SettledBatch, VaultClient
from offchain.core.batch import DEFAULT_FUND_ACCOUNT
from offchain.core.merkle import root_of
from offchain.core.waterfall import Layer
from offchain.ledger.handles import Engine
from offchain.ledger.views import batches, fills, positions
from offchain.ledger.views import defaults as defaults_view

OPERATOR_LAYER, ASSESSMENT_LAYER = int(Layer.OPERATOR_CAPITAL), int(Layer.ASSESSMENT)


def reconcile(vault: VaultClient, db: Engine, acknowledged: Iterable[int] = ()) -> list[str]:
    """Problems found (empty when the ledger and the chain agree)."""
    problems: list[str] = []
    onchain = {b.batch.sequence: b for b in vault.settled_batches()}
    with db.connect() as conn:
        ledger = batches.digests(conn)
        settlements = fills.fill_settlements(conn)
        held = positions.venue_positions(conn)
    if set(ledger) != set(onchain):
        problems.append(
            f"batches on-chain {sorted(set(onchain) - set(ledger))} missing from the ledger; "
            f"ledger batches not on-chain {sorted(set(ledger) - set(onchain))}"
        )
    for seq, (status, digest) in sorted(ledger.items()):
        if status != "confirmed":
            problems.append(f"batch {seq} is still {status}")
        if seq in onchain and onchain[seq].digest != digest:
            problems.append(f"batch {seq}: on-chain digest differs from the ledger's")
    if vault.last_sequence() != max(ledger, default=0):
        problems.append(f"chain at batch {vault.last_sequence()}, ledger at {max(ledger, default=0)}")

    by_batch: dict[int, list[bytes]] = defaultdict(list)
    stored = set()
    unsettled = []
    for f in settlements:
        stored.add(f.id)
        if f.batch_sequence is None:
            unsettled.append(f.id)
        else:
            by_batch[f.batch_sequence].append(f.leaf)
    if unsettled:
        problems.append(f"{len(unsettled)} fills never settled, e.g. {unsettled[:10]}")
    missing = set(acknowledged) - stored
    if missing:
        problems.append(f"acknowledged fills lost: {sorted(missing)[:10]}")
    for seq, b in onchain.items():
        if b.batch.fills_root != root_of(by_batch.get(seq, [])):
            problems.append(f"batch {seq}: fills root on-chain is not the root of the ledger's fills for it")

    expected: dict[tuple[int, str, str], int] = defaultdict(int)
    for f in settlements:
        if f.batch_sequence is not None:
            expected[(f.buyer, f.instrument, f.venue)] += f.qty
            expected[(f.seller, f.instrument, f.venue)] -= f.qty
    if {k: v for k, v in expected.items() if v} != held:
        problems.append("ledger positions differ from the sum of settled fills")

    problems.extend(_cash_problems(vault, onchain.values()))
    problems.extend(_draw_problems(vault, db))
    return problems


def _draw_problems(vault: VaultClient, db: Engine) -> list[str]:
    """The ledger's 'chain' waterfall draws are exactly the vault's WaterfallDraw events, in order."""
    with db.connect() as conn:
        stored = [(d.layer, d.account, d.asset, d.amount, d.value) for d in defaults_view.all_chain_draws(conn)]
    events = [
        (int(a["layer"]), int(a["account"]), int(a["asset"]), int(a["amount"]), int(a["value"]))
        for a in (e["args"] for e in vault.contract.events.WaterfallDraw().get_logs(from_block=0))
    ]
    if stored != events:
        return [f"waterfall draws: {len(events)} WaterfallDraw events on-chain, {len(stored)} recorded, or they differ"]
    return []


def _cash_problems(vault: VaultClient, batches: Iterable[SettledBatch]) -> list[str]:
    """On-chain cash (balance less debt) of every account == its deposits + transfers − withdrawals;
    the default fund's also moves by the liquidity advances it made and got back."""
    flows: dict[int, int] = defaultdict(int)
    c = vault.contract
    for e in c.events.Deposited().get_logs(from_block=0):
        if e["args"]["asset"] == 0:
            flows[int(e["args"]["account"])] += int(e["args"]["amount"])
    for e in c.events.WithdrawalRequested().get_logs(from_block=0):
        if e["args"]["asset"] == 0:
            flows[int(e["args"]["account"])] -= int(e["args"]["amount"])
    for e in c.events.WithdrawalCancelled().get_logs(from_block=0):
        w = vault.withdrawal(int(e["args"]["id"]))
        if w.asset == 0:
            flows[w.account] += w.amount
    for e in c.events.LiquidityAdvanced().get_logs(from_block=0):
        flows[DEFAULT_FUND_ACCOUNT] -= int(e["args"]["amount"])
    for e in c.events.AdvanceRepaid().get_logs(from_block=0):
        flows[DEFAULT_FUND_ACCOUNT] += int(e["args"]["amount"])
    for b in batches:
        for tr in b.batch.transfers:
            if tr.asset == 0:
                flows[tr.account] += tr.amount
        for row in b.batch.contributions:  # member cash <-> its contribution, held in the default fund's cash
            flows[row.account] -= row.amount
            flows[DEFAULT_FUND_ACCOUNT] += row.amount
    for e in c.events.WaterfallDraw().get_logs(from_block=0):
        a = e["args"]
        flows[int(a["defaulter"])] += int(a["value"])  # the defaulter's debt falls by what the layer covered
        if int(a["layer"]) in (OPERATOR_LAYER, ASSESSMENT_LAYER):  # cash paid into the default fund
            flows[int(a["account"])] -= int(a["amount"])
            flows[DEFAULT_FUND_ACCOUNT] += int(a["amount"])
    problems = []
    for account, expected in sorted(flows.items()):
        actual = vault.balance(account, 0) - vault.debt(account)
        if actual != expected:
            problems.append(f"account {account}: cash {actual} on-chain, {expected} from deposits and batches")
    return problems
