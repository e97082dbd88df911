"""Property: for any sequence of single and bulk submissions, with resends, reused ids and invalid
fills mixed in, the stored fills are exactly the distinct valid fills (first content per id wins),
and every ack is what a simple model of the rules predicts."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.core.fills import Fill
from offchain.ingest import AckStatus
from tests.ingest.conftest import BTC_MARK, CAROL, OTHER_KEY, STRANGER, VENUE_KEY, World, sign

KINDS = ("valid", "valid", "valid", "forged", "stranger", "not_permitted", "out_of_band")
_examples = itertools.count()

candidates = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 4), st.integers(1, 3)),  # (kind, id, qty)
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), pool=candidates)
def test_stored_fills_are_the_distinct_valid_fills(
    world: World, data: st.DataObject, pool: list[tuple[str, int, int]]
) -> None:
    prefix = f"p{next(_examples)}-"
    made: list[tuple[Fill, bytes, str]] = []
    for kind, fid, qty in pool:
        overrides: dict[str, object] = {"venue_fill_id": f"{prefix}{fid}", "qty": qty}
        if kind == "stranger":
            overrides["buyer"] = STRANGER
        elif kind == "not_permitted":
            overrides["seller"] = CAROL
        elif kind == "out_of_band":
            overrides["price"] = BTC_MARK * 2
        fill = world.fill(**overrides)
        made.append((fill, sign(fill, OTHER_KEY if kind == "forged" else VENUE_KEY), kind))
    bulks = data.draw(st.lists(st.lists(st.integers(0, len(made) - 1), min_size=1, max_size=5), min_size=1, max_size=6))

    model: dict[tuple[str, str], bytes] = {}
    for bulk in bulks:
        expected: list[AckStatus] = []
        for i in bulk:
            fill, _, kind = made[i]
            key = (fill.venue, fill.venue_fill_id)
            if kind == "forged":
                expected.append(AckStatus.REJECTED)
            elif key in model:
                expected.append(AckStatus.DUPLICATE if model[key] == fill.leaf() else AckStatus.REJECTED)
            elif kind == "valid":
                model[key] = fill.leaf()
                expected.append(AckStatus.ACCEPTED)
            else:
                expected.append(AckStatus.REJECTED)
        items = [(made[i][0], made[i][1]) for i in bulk]
        acks = world.ingestor.submit_many(items) if len(items) > 1 else [world.ingestor.submit(*items[0])]
        assert [a.status for a in acks] == expected

    stored = {k: v for k, v in world.stored().items() if k[1].startswith(prefix)}
    assert stored == model
