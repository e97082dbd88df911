"""The engine's pool book (offchain/defaults/pool.py) against the auditor's independent copy of
DefaultFund.sol (offchain/audit/events/fund.py): the same operations give the same pool, values, shares at
every DECLARE, caps and refusals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.audit.events.fund import FundError, FundState
from offchain.defaults.pool import PoolBook, PoolError

ACCOUNTS = (4, 5, 6, 7)
ops = st.lists(
    st.tuples(
        st.sampled_from(["contribute", "remove", "draw", "declare", "close", "assess"]),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
        st.integers(min_value=1, max_value=10**9),
    ),
    max_size=40,
)


def _apply(x: PoolBook | FundState, op: str, a: int, b: int, amount: int) -> None:
    if op == "contribute":
        x.contribute(a, amount)
    elif op == "remove":
        x.remove(a, min(amount, x.value_of(a)) if amount % 3 else x.value_of(a))
    elif op == "draw":
        x.draw(min(amount, x.value))
    elif op == "declare":
        x.declare(a)
    elif op == "close":
        x.close(a)
    elif x.is_open(a) and not x.is_open(b) and a != b:
        x.assess(a, b, min(amount, x.cap_left(a, b)))


@settings(max_examples=300, deadline=None)
@given(ops)
def test_the_engine_book_is_the_auditor_mirror(history: list[tuple[str, int, int, int]]) -> None:
    book, audit = PoolBook(), FundState()
    for op, a, b, amount in history:
        refused = [False, False]
        pair: tuple[PoolBook | FundState, ...] = (book, audit)
        for i, x in enumerate(pair):
            try:
                _apply(x, op, a, b, amount)
            except (PoolError, FundError):
                refused[i] = True
        assert refused[0] == refused[1]
        assert (book.value, book.shares, book.epoch) == (audit.value, audit.shares, audit.epoch)
        for m in ACCOUNTS:
            assert book.value_of(m) == audit.value_of(m) and book.is_open(m) == audit.is_open(m)
            for dft in ACCOUNTS:
                if dft in book.defaults:
                    assert book.shares_at_declare(dft, m) == audit.shares_at_declare(dft, m)
                    assert book.cap_left(dft, m) == audit.cap_left(dft, m)
