"""The vault's default-fund reads (FundView) and the recording of its WaterfallDraw events.

Needs the vault of issue 6 (views `contributionOf`, `defaultFundPool`, `debtOf`, `balanceOf(3, 0)` and the
`ContributionChanged`, `DefaultDeclared`, `DefaultClosed`, `WaterfallDraw` events); `VaultFundView` wraps a
`VaultChainView` so the builder's hook gets both. The pool's shares (per member, and as they stood at each
DECLARE) are not exposed by the vault: `pool_book` replays them from its events (offchain/defaults/pool.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from web3.logs import DISCARD

from offchain.chain.chainview import VaultChainView
from offchain.chain.vault import VaultClient
from offchain.core.batch import OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET
from offchain.core.waterfall import Draw, Layer
from offchain.defaults.pool import PoolBook, PoolError
from offchain.ledger.defaults import store_chain_draws
from offchain.ledger.handles import Connection


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

    def pool_book(self) -> PoolBook:
        """The default fund's pool, stakes and defaults as the vault holds them at the latest block, replayed
        from its ContributionChanged, DefaultDeclared, DefaultClosed and WaterfallDraw (layers 4, 5) events
        and checked against `defaultFundPool` and each replayed member's `contributionOf` at that block.
        Read only when a COVER is planned (a full scan of the vault's logs)."""
        return replay_pool(self.vault, int(self.vault.w3.eth.block_number))


def replay_pool(vault: VaultClient, block: int) -> PoolBook:
    """The PoolBook after every fund event up to `block`, checked against the vault's views there."""
    ev = vault.contract.events
    logs = [
        log
        for event in (ev.ContributionChanged, ev.DefaultDeclared, ev.DefaultClosed, ev.WaterfallDraw)
        for log in event().get_logs(from_block=0, to_block=block)
    ]
    logs.sort(key=lambda x: (int(x["blockNumber"]), int(x["logIndex"])))
    book = PoolBook()
    for log in logs:
        a, name = log["args"], log["event"]
        if name == "ContributionChanged":
            amount = int(a["amount"])
            value = (
                book.contribute(int(a["account"]), amount) if amount > 0 else book.remove(int(a["account"]), -amount)
            )
            if value != int(a["value"]):
                raise PoolError(f"replayed contribution of account {a['account']} is {value}, the vault's {a['value']}")
        elif name == "DefaultDeclared":
            book.declare(int(a["account"]))
        elif name == "DefaultClosed":
            book.close(int(a["account"]))
        elif int(a["layer"]) == Layer.SURVIVORS_FUND:
            book.draw(int(a["amount"]))
        elif int(a["layer"]) == Layer.ASSESSMENT:
            book.assess(int(a["defaulter"]), int(a["account"]), int(a["amount"]))
        # layer 2 moved the pool through its ContributionChanged; layers 1 and 3 do not touch it
    f = vault.contract.functions
    value, shares = f.defaultFundPool().call(block_identifier=block)
    if (book.value, book.shares) != (int(value), int(shares)):
        raise PoolError(f"replayed pool ({book.value}, {book.shares}) is not the vault's ({value}, {shares})")
    for account in sorted(book.stakes):
        on_chain = int(f.contributionOf(account).call(block_identifier=block))
        if book.value_of(account) != on_chain:
            raise PoolError(f"replayed contribution of account {account} is {book.value_of(account)}, not {on_chain}")
    return book


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
