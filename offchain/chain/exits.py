"""Members' exit requests on the vault, as the settlement engine keeps them in the ledger (issue 11, finding 2).

A member that calls the vault's `requestExit` asks the risk signers to serve its exit: close it out and bring
its IM in force to 0. Until it cancels (`cancelExit`) it may only reduce its positions: the engine marks it
`exiting` in the ledger's member table, and ingest refuses a fill that would grow or flip its position
(`EXITING`, offchain/ingest/validation.py). Otherwise a member could ask to exit while flat, wait the escape
period and trade again: the vault's forced-exit clock restarts when its IM rises from 0, but honest signers
posting that IM would still be holding an exit open for a member that keeps adding exposure.

`ExitWatcher.poll` reads the two events since its last poll (the first poll scans from block 0);
`offchain.ledger.registry_store.sync_exiting` moves `active` members with an open request to `exiting` and
`exiting` ones without one back to `active` (close_only and defaulted stay: they are stricter, and a cure back
to `active` is corrected by the next sync).
"""

from __future__ import annotations

from offchain.chain.vault import VaultClient


class ExitWatcher:
    """The accounts with an open exit request on one vault, kept by polling its events."""

    def __init__(self, vault: VaultClient) -> None:
        self.vault = vault
        self._next_block = 0
        self._open: set[int] = set()

    def poll(self) -> frozenset[int]:
        """Apply the ExitRequested / ExitRequestCancelled events up to the latest block; the open requests."""
        latest = int(self.vault.w3.eth.block_number)
        if latest >= self._next_block:
            ev = self.vault.contract.events
            logs = [
                log
                for event in (ev.ExitRequested, ev.ExitRequestCancelled)
                for log in event().get_logs(from_block=self._next_block, to_block=latest)
            ]
            logs.sort(key=lambda x: (int(x["blockNumber"]), int(x["logIndex"])))
            for log in logs:
                account = int(log["args"]["account"])
                if log["event"] == "ExitRequested":
                    self._open.add(account)
                else:
                    self._open.discard(account)
            self._next_block = latest + 1
        return frozenset(self._open)
