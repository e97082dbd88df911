"""What the demo shows of default management: read from the engine's ledger and from the vault, never decided
by the demo (the engine's DefaultManager issues calls, cures and DECLAREs; the AuctionHouse closes the
defaulter out; the vault draws the waterfall).

* `call_rows`: the ledger's `margin_calls` rows after a given id (issue, raise, cure, default);
* `signed_bids`: the market makers' EIP-712 bids for an open tranche (they buy a defaulter's long below
  the mark, or sell into its short above it);
* `summary`: the default's record for the report: its timeline rows, every tranche with its bids and
  awards, the waterfall per layer from the vault's `WaterfallDraw` events and from the ledger's
  `waterfall_draws` (plan and chain), ADL and external exposure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account

from offchain.chain.vault import VaultClient
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT
from offchain.core.bid import Bid
from offchain.core.eip712 import Domain
from offchain.core.waterfall import Layer
from offchain.defaults.auction import Tranche
from offchain.ledger.handles import Engine
from offchain.ledger.views import defaults as defaults_view
from offchain.ledger.views import margin, members

USD = 10**6
QTY = 10**8

LAYER_NAMES = {
    Layer.COLLATERAL: "L1 defaulter's collateral",
    Layer.OWN_CONTRIBUTION: "L2 defaulter's default-fund contribution",
    Layer.OPERATOR_CAPITAL: "L3 operator capital (skin in the game)",
    Layer.SURVIVORS_FUND: "L4 survivors' default-fund contributions",
    Layer.ASSESSMENT: "L5 assessments",
    Layer.VM_HAIRCUT: "L6 variation-margin gains haircut",
    Layer.ADL: "L7 auto-deleveraging",
}


def call_rows(db: Engine, after_id: int) -> list[margin.MarginCallRow]:
    with db.connect() as conn:
        return margin.margin_calls_after(conn, after_id)


def statuses(db: Engine) -> dict[int, str]:
    """account -> the ledger's member status (active, close_only, defaulted)."""
    with db.connect() as conn:
        return members.member_statuses(conn)


def live_default(db: Engine) -> tuple[int, int] | None:
    """(default id, defaulter) of a default not closed yet, if any."""
    with db.connect() as conn:
        return defaults_view.open_default(conn)


@dataclass(frozen=True)
class Bidder:
    name: str
    address: str
    key: str
    share_bps: int  # of each tranche
    edge_bps: int  # below the mark when buying, above it when selling
    skip: frozenset[int] = frozenset()  # tranches it does not bid on


def signed_bids(
    tranche: Tranche, bidders: Sequence[Bidder], domain: Domain, expiry: int
) -> list[tuple[Bidder, Bid, bytes]]:
    out = []
    sign = -1 if tranche.defaulter_sells else 1  # buyers pay under the mark, sellers ask over it
    for b in bidders:
        if tranche.index in b.skip:
            continue
        qty = tranche.qty * b.share_bps // 10_000
        if qty <= 0:
            continue
        bid = Bid(
            auction=tranche.auction,
            tranche=tranche.index,
            instrument=tranche.instrument,
            buy=tranche.defaulter_sells,
            qty=qty,
            price=tranche.mark * (10_000 + sign * b.edge_bps) // 10_000,
            bidder=b.address,
            expiry=expiry,
        )
        out.append((b, bid, bytes(Account.unsafe_sign_hash(bid.digest(domain), b.key).signature)))
    return out


def _name(names: Mapping[int, str], account: int) -> str:
    if account == OPERATOR_CAPITAL_ACCOUNT:
        return "operator capital"
    if account == DEFAULT_FUND_ACCOUNT:
        return "default fund"
    return names.get(account, f"account {account}")


def summary(
    db: Engine,
    vault: VaultClient,
    names: Mapping[int, str],
    symbols: Mapping[int, tuple[str, int]],
    label: Any,
) -> dict[str, Any]:
    """The default(s) of the run as the ledger and the vault record them (amounts in USD / whole units).
    `symbols`: asset -> (symbol, decimals); `label(chain_seconds) -> str` names a moment of the window."""
    with db.connect() as conn:
        history = defaults_view.default_history(conn)
    defaults, tranches, bids, draws = history.defaults, history.tranches, history.bids, history.draws
    addresses = history.accounts
    if not defaults:
        return {"status": "none", "detail": "no member defaulted in this window", "defaults": []}
    events = [
        dict(e["args"]) | {"block": int(e["blockNumber"])}
        for e in vault.contract.events.WaterfallDraw().get_logs(from_block=0)
    ]
    out: list[dict[str, Any]] = []
    for row in defaults:
        layers = []
        mine = [x for x in draws if x.default_id == row.id]
        chain_events = [e for e in events if int(e["defaulter"]) == int(row.account)]
        for layer in Layer:
            chain = sum(int(e["value"]) for e in chain_events if int(e["layer"]) == layer)
            plan = sum(int(x.value) for x in mine if x.source == "plan" and x.layer == layer)
            ledger_chain = sum(int(x.value) for x in mine if x.source == "chain" and x.layer == layer)
            layers.append(
                {
                    "layer": int(layer),
                    "name": LAYER_NAMES[layer],
                    "chain": chain / USD,
                    "plan": plan / USD,
                    "ledger_chain": ledger_chain / USD,
                }
            )
        draw_rows = []
        for e in chain_events:
            asset = int(e["asset"])
            symbol, decimals = symbols.get(asset, (str(asset), 0))
            draw_rows.append(
                {
                    "layer": int(e["layer"]),
                    "from": _name(names, int(e["account"])),
                    "asset": symbol,
                    "amount": int(e["amount"]) / 10**decimals,
                    "value": int(e["value"]) / USD,
                    "block": e["block"],
                }
            )
        chain_tuples = sorted(
            (int(e["layer"]), int(e["account"]), int(e["asset"]), int(e["amount"]), int(e["value"]))
            for e in chain_events
        )
        ledger_tuples = sorted(
            (int(x.layer), int(x.account), int(x.asset), int(x.amount), int(x.value))
            for x in mine
            if x.source == "chain"
        )
        plan_tuples = sorted(
            (int(x.layer), int(x.account), int(x.asset), int(x.amount), int(x.value))
            for x in mine
            if x.source == "plan" and x.layer <= Layer.ASSESSMENT
        )
        adl = sum(1 for x in mine if x.source == "plan" and x.layer == Layer.ADL and x.amount)
        vm_haircut = sum(int(x.value) for x in mine if x.source == "plan" and x.layer == Layer.VM_HAIRCUT)
        trs = []
        for tr in (x for x in tranches if x.default_id == row.id):
            these = [b for b in bids if b.default_id == row.id and b.tranche == tr.tranche]
            trs.append(
                {
                    "tranche": int(tr.tranche),
                    "instrument": str(tr.instrument),
                    "side": "defaulter sells" if tr.defaulter_sells else "defaulter buys",
                    "qty": int(tr.qty) / QTY,
                    "mark": int(tr.mark) / USD,
                    "opened": label(int(tr.opened_at)),
                    "status": str(tr.status),
                    "bid_qty": int(tr.bid_qty or 0) / QTY,
                    "house_qty": int(tr.residual_qty or 0) / QTY,
                    "house_price": int(tr.residual_price or 0) / USD,
                    "bids": [
                        {
                            "bidder": _name(names, addresses.get(str(b.bidder), 0)),
                            "qty": int(b.qty) / QTY,
                            "price": int(b.price) / USD,
                            "outcome": str(b.outcome or "pending"),
                            "filled": int(b.filled_qty or 0) / QTY,
                        }
                        for b in these
                    ],
                }
            )
        covered = int(row.covered)
        drawn = sum(x[4] for x in chain_tuples)
        out.append(
            {
                "defaulter": _name(names, int(row.account)),
                "account": int(row.account),
                "status": str(row.status),
                "declared_sequence": int(row.declared_sequence),
                "declared_at": label(int(row.declared_at)),
                "closed_sequence": int(row.closed_sequence) if row.closed_sequence is not None else None,
                "positions": {i: int(q) / QTY for i, q in row.positions.items()},
                "penalty_bps": int(row.penalty_bps),
                "covered": covered / USD,
                "drawn_on_chain": drawn / USD,
                "layers": layers,
                "draws": draw_rows,
                "chain_equals_ledger": chain_tuples == ledger_tuples,
                "chain_equals_plan": chain_tuples == plan_tuples,
                "adl": adl,
                "vm_haircut": vm_haircut / USD,
                "external": max(covered - drawn, 0) / USD,
                "in_default_on_chain": bool(vault.contract.functions.inDefault(int(row.account)).call()),
                "tranches": trs,
            }
        )
    first = out[0]
    status = "handled" if all(x["status"] == "closed" and not x["in_default_on_chain"] for x in out) else "open"
    detail = (
        f"{first['defaulter']} defaulted at {first['declared_at']}; closed out in {len(first['tranches'])} auctioned "
        f"tranches; loss ${first['covered']:,.0f} covered on-chain by the waterfall "
        f"({', '.join(lay['name'].split(' ')[0] for lay in first['layers'] if lay['chain'] > 0) or 'no draw'}); "
        f"ADL {first['adl']}, external exposure ${first['external']:,.0f}"
    )
    return {"status": status, "detail": detail, "defaults": out}
