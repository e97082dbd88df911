"""The auditor's equity (the vault's haircut-value rule, offchain/audit/checks/calls.py) is the engine's
(offchain/defaults/calls.py), so a margin call the engine issues is one the auditor accepts: one rule in two
independent places, tied here."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from offchain.audit.checks.calls import haircut_equity
from offchain.audit.events.replay import AssetMark as ReplayMark
from offchain.audit.events.replay import VaultReplay
from offchain.defaults.calls import AssetMark, equity

ACCOUNT = 7
marks = st.dictionaries(
    st.integers(0, 5),
    st.tuples(st.integers(0, 10**12), st.integers(0, 10_000), st.integers(0, 24)),
    max_size=6,
)


@given(
    marks=marks,
    balances=st.dictionaries(st.integers(0, 7), st.integers(0, 10**30), max_size=8),
    debt=st.integers(0, 10**15),
)
def test_auditor_equity_is_the_engines(
    marks: dict[int, tuple[int, int, int]], balances: dict[int, int], debt: int
) -> None:
    replay = VaultReplay()
    for asset, (price, haircut, decimals) in marks.items():
        replay.marks[asset] = ReplayMark(price, haircut, decimals)
    for asset, balance in balances.items():
        replay.balances[(ACCOUNT, asset)] = balance
    replay.debt[ACCOUNT] = debt
    engine = equity(balances, debt, {a: AssetMark(p, h, d) for a, (p, h, d) in marks.items()})
    assert haircut_equity(replay, ACCOUNT) == engine
