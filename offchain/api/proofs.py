"""Merkle inclusion proofs of settled fills: one StandardMerkleTree per batch, built from the ledger's
leaves and cached (a batch's fills never change once it is built)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from offchain.core.merkle import StandardMerkleTree
from offchain.ledger.handles import Connection
from offchain.ledger.views import fills


class ProofCache:
    def __init__(self, max_batches: int = 256) -> None:
        self._trees: OrderedDict[int, StandardMerkleTree] = OrderedDict()
        self._max = max_batches
        self._lock = threading.Lock()

    def tree(self, conn: Connection, sequence: int) -> StandardMerkleTree:
        with self._lock:
            cached = self._trees.get(sequence)
            if cached is not None:
                self._trees.move_to_end(sequence)
                return cached
        leaves = fills.batch_leaves(conn, sequence)
        built = StandardMerkleTree.from_leaf_hashes(leaves)
        with self._lock:
            self._trees[sequence] = built
            while len(self._trees) > self._max:
                self._trees.popitem(last=False)
        return built
