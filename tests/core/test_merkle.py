"""Our StandardMerkleTree against the npm package @openzeppelin/merkle-tree, and proof soundness."""

from __future__ import annotations

import json
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.chain.artifacts import CONTRACTS_DIR
from offchain.core.merkle import StandardMerkleTree, leaf_hash, verify

TYPES = ["bytes32", "address", "uint256", "int256"]

JS = """
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(({ types, values }) => {
  const tree = StandardMerkleTree.of(values, types);
  return { root: tree.root, proofs: values.map((_, i) => tree.getProof(i)) };
});
process.stdout.write(JSON.stringify(out));
"""

rows = st.tuples(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=20, max_size=20),
    st.integers(0, 2**256 - 1),
    st.integers(-(2**255), 2**255 - 1),
)


def js_trees(cases: list[list[tuple[bytes, bytes, int, int]]]) -> list[dict[str, object]]:
    payload = [
        {"types": TYPES, "values": [["0x" + a.hex(), "0x" + b.hex(), str(c), str(d)] for a, b, c, d in values]}
        for values in cases
    ]
    result = subprocess.run(
        ["node", "-e", JS], input=json.dumps(payload), capture_output=True, text=True, cwd=CONTRACTS_DIR, check=True
    )
    return list(json.loads(result.stdout))


def py_tree(values: list[tuple[bytes, bytes, int, int]]) -> StandardMerkleTree:
    return StandardMerkleTree.of(TYPES, [(a, "0x" + b.hex(), c, d) for a, b, c, d in values])


def test_roots_and_proofs_match_openzeppelin_package() -> None:
    import random

    rng = random.Random(1)

    def row() -> tuple[bytes, bytes, int, int]:
        return (rng.randbytes(32), rng.randbytes(20), rng.getrandbits(256), rng.getrandbits(255) - 2**254)

    cases = [[row() for _ in range(n)] for n in (1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 100)]
    for values, js in zip(cases, js_trees(cases), strict=True):
        tree = py_tree(values)
        assert "0x" + tree.root.hex() == js["root"]
        for v, js_proof in zip(values, js["proofs"], strict=True):  # type: ignore[call-overload]
            leaf = leaf_hash(TYPES, (v[0], "0x" + v[1].hex(), v[2], v[3]))
            assert ["0x" + p.hex() for p in tree.proof(leaf)] == js_proof


@settings(max_examples=100, deadline=None)
@given(st.lists(rows, min_size=1, max_size=40, unique_by=lambda r: r), st.data())
def test_every_leaf_proves_and_a_foreign_leaf_does_not(
    values: list[tuple[bytes, bytes, int, int]], data: st.DataObject
) -> None:
    tree = py_tree(values)
    for v in values:
        leaf = leaf_hash(TYPES, (v[0], "0x" + v[1].hex(), v[2], v[3]))
        assert verify(tree.root, leaf, tree.proof(leaf))
    other = data.draw(rows.filter(lambda r: r not in values))
    foreign = leaf_hash(TYPES, (other[0], "0x" + other[1].hex(), other[2], other[3]))
    some_leaf = leaf_hash(TYPES, (values[0][0], "0x" + values[0][1].hex(), values[0][2], values[0][3]))
    assert not verify(tree.root, foreign, tree.proof(some_leaf))
