"""The vault's default-fund reads (FundView) and the recording of its WaterfallDraw events.

Needs the vault of issue 6 (views `contributionOf`, `defaultFundPool`, `debtOf`, `balanceOf(3, 0)` and the
`WaterfallDraw` event); `VaultFundView` wraps a `VaultChainView` so the builder's hook gets both.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, select
from web3.logs import DISCARD

from offchain.chain.vault import VaultClient
from offchain.core.batch import OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET
from offchain.core.waterfall import Draw, Layer
from offchain.ledger import schema as t
from offchain.settlement.chainview import VaultChainView


class VaultFundView(VaultChainView):
    """ChainView + FundView over one vault."""

    def debts(self, accounts: Sequence[int]) -> dict[int, int]:
        return {a: self.vault.debt(a) for a in accounts}

    def contributions(self, accounts: Sequence[int]) -> dict[int, int]:
        f = self.vault.contract.functions
        return {a: int(f.contributionOf(a).call()) for a in accounts}

    def pool(self) -> tuple[int, int]:
        value, shares = self.vault.contract.functions.defaultFundPool().call()
        return int(value), int(shares)

    def operator_capital(self) -> int:
        return self.vault.balance(OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET)


def waterfall_events(vault: VaultClient, tx_hash: bytes) -> list[tuple[int, Draw]]:
    """(defaulter, draw) of each WaterfallDraw event of one settle transaction, in log order."""
    receipt = vault.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    out = []
    for ev in vault.contract.events.WaterfallDraw().process_receipt(receipt, errors=DISCARD):
        a = ev["args"]
        draw = Draw(Layer(int(a["layer"])), int(a["account"]), int(a["asset"]), int(a["amount"]), int(a["value"]))
        out.append((int(a["defaulter"]), draw))
    return out


def record_chain_draws(conn: Connection, vault: VaultClient, sequence: int, tx_hash: bytes) -> list[Draw]:
    """Store a confirmed batch's WaterfallDraw events (source 'chain') against the defaults they served
    (the latest default of each defaulter)."""
    events = waterfall_events(vault, tx_hash)
    store_chain_draws(conn, sequence, events)
    return [x for _, x in events]


def store_chain_draws(conn: Connection, sequence: int, events: Sequence[tuple[int, Draw]]) -> None:
    """Store (defaulter, draw) events read from batch `sequence` (the engine reads them before its
    ledger transaction and stores them in it, with the batch's confirmation)."""
    d = t.defaults
    ids = {account: i for i, account in conn.execute(select(d.c.id, d.c.account).order_by(d.c.id))}
    missing = {defaulter for defaulter, _ in events if defaulter not in ids}
    if missing:
        raise LookupError(f"batch {sequence} drew on the waterfall for {sorted(missing)}, unknown to the ledger")
    if events:
        conn.execute(
            insert(t.waterfall_draws),
            [
                {
                    "default_id": ids[defaulter],
                    "batch_sequence": sequence,
                    "source": "chain",
                    "layer": int(x.layer),
                    "account": x.account,
                    "asset": x.asset,
                    "amount": x.amount,
                    "value": x.value,
                }
                for defaulter, x in events
            ],
        )
