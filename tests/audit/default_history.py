"""A devnet history with a full default, for the auditor: the Anvil e2e scenario of tests/defaults (a thin
member long BTC, a price drop, an on-chain margin call, no cure, DECLARE, four auctioned tranches all taken
by the house, COVER drawing layers 1-4 with ASSESS rows for layer 5, CLOSE), contributions every batch,
then one more batch after the close (the replenishment).

An Anvil snapshot is taken just before the batch that COVERs, so a tamper can replace that batch and the
honest batches after it can be settled again (`HonestTail`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from web3.types import RPCEndpoint

from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.core.batch import Batch
from tests.defaults.test_default_e2e import DROP2, INTERVAL, THIN, World, open_book, world
from tests.settlement.conftest import Devnet


@dataclass
class HonestTail:
    """The batches settled after the pre-COVER snapshot, to settle again after a tamper reverted them."""

    snapshot: str
    batches: list[Batch] = field(default_factory=list)


def build_default_history(d: Devnet) -> tuple[World, HonestTail]:
    w = world(d)
    open_book(w, thin_usdc=12_000, thin_btc=3)
    f, thin = w.f, w.account(THIN)
    w.warp(1)
    w.settle(DROP2)  # the margin call
    _amount, deadline = f.marginCallOf(thin).call()
    w.warp(deadline - d.now_ms() // 1000 + 1)
    w.settle(DROP2)  # DECLARE
    assert f.inDefault(thin).call()
    w.confirm_mark(DROP2)  # the auction opens at a mark the engine settles at: the crash confirmed first
    w.house.step()  # the first tranche opens; nobody bids: the house takes every tranche
    tail: HonestTail | None = None
    for k in range(4):
        w.warp(INTERVAL)
        d.prices(btc=DROP2)
        w.house.step()
        if k == 3:
            tail = HonestTail(snapshot(d))
        w.settle(DROP2)
    assert tail is not None and not f.inDefault(thin).call() and f.debtOf(thin).call() == 0
    w.warp(1)
    w.settle(DROP2)  # after the close: contributions are topped up again
    n = len(tail.batches)
    tail.batches = [b.batch for b in d.vault.settled_batches()][-2:]
    assert n == 0 and any(b.default_actions for b in tail.batches)
    return w, tail


def snapshot(d: Devnet) -> str:
    return str(d.vault.w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"])


def revert(d: Devnet, snap: str) -> None:
    assert d.vault.w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])["result"]


def catch_up(d: Devnet, as_of: int) -> None:
    """Mine a block at or after `as_of` (a revert takes chain time back; a re-settled batch's asOf stays)."""
    w3 = d.vault.w3
    behind = as_of - int(w3.eth.get_block("latest")["timestamp"])
    if behind >= 0:
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [behind + 1])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def settle_signed(d: Devnet, batch: Batch) -> None:
    """Settle `batch` signed by the devnet's risk signers (a hand-built or re-settled batch)."""
    vault = d.vault
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[: d.spec.threshold]]
    vault.settle(vault_sender(vault.w3, d.spec.operator_key), batch, sign_batch(batch, vault.domain, signers))
