"""OpenZeppelin StandardMerkleTree, in Python, byte for byte.

Leaves are `keccak256(keccak256(abi.encode(types, values)))` (double hashing rules out second-preimage
confusion between leaves and inner nodes); pairs hash sorted, so a proof needs no left/right flags and
OpenZeppelin's `MerkleProof.verify` accepts it; leaves are sorted before the tree is built, as the npm
package `@openzeppelin/merkle-tree` does by default. tests/core/test_merkle.py checks roots and proofs
against that package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak

ZERO_ROOT = b"\x00" * 32


def leaf_hash(types: Sequence[str], values: Sequence[object]) -> bytes:
    return keccak(keccak(encode(list(types), list(values))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class StandardMerkleTree:
    """A tree over leaf hashes; `tree[0]` is the root, leaves fill the end of the array."""

    tree: tuple[bytes, ...]
    leaf_index: dict[bytes, int]  # leaf hash -> its position in `tree`

    @classmethod
    def of(cls, types: Sequence[str], values: Sequence[Sequence[object]]) -> StandardMerkleTree:
        return cls.from_leaf_hashes([leaf_hash(types, v) for v in values])

    @classmethod
    def from_leaf_hashes(cls, leaves: Sequence[bytes]) -> StandardMerkleTree:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        ordered = sorted(leaves)
        n = len(ordered)
        tree: list[bytes] = [b""] * (2 * n - 1)
        for i, leaf in enumerate(ordered):
            tree[len(tree) - 1 - i] = leaf
        for i in range(len(tree) - 1 - n, -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        index = {leaf: len(tree) - 1 - i for i, leaf in enumerate(ordered)}
        return cls(tuple(tree), index)

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def proof(self, leaf: bytes) -> list[bytes]:
        if leaf not in self.leaf_index:
            raise KeyError(f"leaf {leaf.hex()} is not in the tree")
        j = self.leaf_index[leaf]
        out: list[bytes] = []
        while j > 0:
            out.append(self.tree[j + 1 if j % 2 == 1 else j - 1])
            j = (j - 1) // 2
        return out


def verify(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """What OpenZeppelin's MerkleProof.verify computes."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Root of a batch's fills; the zero root for a batch that settles no fill."""
    return StandardMerkleTree.from_leaf_hashes(leaves).root if leaves else ZERO_ROOT
