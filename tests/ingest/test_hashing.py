"""The ingest hot path's hand-encoded digest and leaf equal the core Fill's, byte for byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.fills import Fill, fills_domain
from offchain.ingest.hashing import fill_digest, fill_leaf

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
names = st.text(min_size=1, max_size=64)  # any unicode: multi-byte UTF-8 changes the padding
fills = st.builds(
    Fill,
    venue=names,
    venue_fill_id=st.text(min_size=1, max_size=128),
    symbol=names,
    buyer=addresses,
    seller=addresses,
    qty=st.integers(1, 2**128 - 1),
    price=st.integers(1, 2**128 - 1),
    ts=st.integers(0, 2**64 - 1),
)


@settings(max_examples=300, deadline=None)
@given(fill=fills, chain_id=st.integers(1, 2**64), vault=addresses)
def test_fast_digest_and_leaf_equal_core(fill: Fill, chain_id: int, vault: str) -> None:
    domain = fills_domain(chain_id, vault)
    assert fill_digest(fill, domain.separator) == fill.digest(domain)
    assert fill_leaf(fill) == fill.leaf()
