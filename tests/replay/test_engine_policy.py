"""The replay decides margin calls, cures and defaults with the engine's own policy: every step of a replay,
fed to the engine's DefaultManager on a real ledger as the same member states, gets the same verdicts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from offchain.defaults.calls import AssetMark, MemberState, Verdict
from offchain.defaults.manager import BatchState, DefaultManager, DefaultsConfig
from offchain.defaults.pool import PoolBook
from offchain.ingest import registry
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.replay.config import ReplayConfig
from offchain.replay.crossclear import StepDecision, member_state
from offchain.replay.engine import ReplayResult, replay_files
from tests.replay.helpers import history, hourly_path, member, population

ACCOUNT0 = 10  # replay member m is vault account ACCOUNT0 + m
CASH, OTHER = 0, 1  # the settlement asset, and one asset at price 1 and haircut 0 holding the rest of the value
MARKS = {CASH: AssetMark(10**6, 0, 6), OTHER: AssetMark(10**6, 0, 6)}


class DebtOnlyFund:
    """The vault's fund view for members that owe advances and hold no default-fund contributions."""

    def __init__(self) -> None:
        self.debt: dict[int, int] = {}

    def debts(self, accounts: Sequence[int]) -> dict[int, int]:
        return {a: self.debt.get(a, 0) for a in accounts}

    def contributions(self, accounts: Sequence[int]) -> dict[int, int]:
        return dict.fromkeys(accounts, 0)

    def pool(self) -> tuple[int, int]:
        return 0, 0

    def operator_capital(self) -> int:
        return 0

    def pool_book(self) -> PoolBook:
        return PoolBook()


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    """A slide of 1.5 % an hour for 10 hours, then flat: two thin longs are called; one tops up (and is
    called again as the slide goes on, then cures), one has no reserve and defaults after the cure period."""
    tmp = tmp_path_factory.mktemp("policy")
    btc = [20000.0] * 3 + [20000.0 * (1 - 0.015 * k) for k in range(1, 11)] + [17000.0] * 12
    members = [
        member("payer", [("a", "BTC-USD-PERP", 4e6)], cushion=1.05, reserve=5.0, response_hours=1),
        member("broke", [("a", "BTC-USD-PERP", 4e6)], cushion=1.05, reserve=0.0, response_hours=1),
        member("mm", [("b", "BTC-USD-PERP", -8e6)], capital=20e6),
    ]
    return replay_files(
        [str(hourly_path(tmp / "path.csv", btc))],
        [],
        members=str(population(tmp / "pop.json", members)),
        history=[str(history(tmp / "daily.csv"))],
        perp_history=[],
    )


def test_replay_ships_the_engine_policy() -> None:
    assert ReplayConfig().calls == DefaultsConfig().calls


def test_the_replay_went_through_calls_cures_and_a_default(replay: ReplayResult) -> None:
    verdicts = [(replay.setup.names[d.state.account], d.verdict) for d in replay.crossclear.decisions]
    assert ("payer", Verdict.ISSUE) in verdicts and ("payer", Verdict.CURE) in verdicts
    assert ("broke", Verdict.ISSUE) in verdicts and ("broke", Verdict.DEFAULT) in verdicts
    assert replay.crossclear.defaults == ["broke"]
    assert replay.crossclear.margin_calls >= 2 and replay.crossclear.cures >= 1


def _equity_as_vault(d: StepDecision) -> tuple[dict[tuple[int, int], int], int]:
    """Balances (settlement cash and the other asset) and debt that give the vault's equity of `d.state`."""
    s, account = d.state, ACCOUNT0 + d.state.account
    if s.debt == 0:
        return {(account, CASH): s.equity, (account, OTHER): 0}, 0
    return {(account, CASH): 0, (account, OTHER): max(s.equity + s.debt, 0)}, s.debt


@pytest.fixture
def ledger(tmp_path: Path, replay: ReplayResult) -> Iterator[Engine]:
    engine = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    with engine.begin() as conn:
        for m, name in enumerate(replay.setup.names):
            registry.admit_member(conn, ACCOUNT0 + m, "0x" + f"{ACCOUNT0 + m:040x}", name, "hedge_fund", "tier1", "x")
    yield engine
    engine.dispose()


def test_every_replay_step_is_the_engines_decision(replay: ReplayResult, ledger: Engine) -> None:
    """Batch by batch, the engine's DefaultManager sees each live member as the replay did (same equity, debt,
    IM, MM, at the same time) and logs exactly the replay's calls, raises, cures and declarations."""
    steps: dict[int, list[StepDecision]] = defaultdict(list)
    for d in replay.crossclear.decisions:
        steps[d.now].append(d)
    manager, fund = DefaultManager(), DebtOnlyFund()
    replay_log: list[tuple[int, int, str, int, int]] = []
    for seq, now in enumerate(sorted(steps), start=1):
        holdings: dict[tuple[int, int], int] = {}
        requirements: dict[int, tuple[int, int]] = {}  # a defaulted member's: none (its estate is closed off-book)
        for d in steps[now]:
            account = ACCOUNT0 + d.state.account
            balances, fund.debt[account] = _equity_as_vault(d)
            holdings |= balances
            requirements[account] = (d.state.im, d.state.mm)
            if d.verdict not in (Verdict.NONE, Verdict.HOLD):
                # as the engine logs a verdict: a DECLARE keeps the call's deadline, with amount 0
                amount = d.after.amount if d.after is not None and d.verdict is not Verdict.DEFAULT else 0
                replay_log.append((now, account, d.verdict.value, amount, d.after.deadline if d.after else 0))
        batch = BatchState(
            sequence=seq,
            as_of=now,
            # every member (a defaulted one too, as the engine's batches carry it; the manager skips its calls)
            members=[(ACCOUNT0 + m, "tier1") for m in range(len(replay.setup.names))],
            holdings=holdings,
            transfers=(),
            requirements=requirements,
            collateral=MARKS,
            positions={},
            marks={},
        )
        with ledger.begin() as conn:
            manager.rows(conn, batch, fund)
    mc = t.margin_calls
    with ledger.connect() as conn:
        engine_log = [
            tuple(r)
            for r in conn.execute(
                select(mc.c.as_of, mc.c.account, mc.c.verdict, mc.c.amount, mc.c.deadline).order_by(mc.c.id)
            )
        ]
    assert engine_log == replay_log
    assert {v for _, _, v, _, _ in engine_log} >= {"issue", "cure", "default"}


def test_member_state_rounds_against_the_member() -> None:
    # 1.0000004 USD of equity is 1 base unit short of 1.000001; IM/MM/debt round up.
    s = member_state(3, equity=1.0000004, cash=0.5, vm=-0.7000001, im=2.0000001, mm=1.0000001, scale=10**6)
    assert s == MemberState(account=3, equity=1_000_000, debt=200_001, im=2_000_001, mm=1_000_001)
    assert member_state(0, 5.0, 10.0, -3.0, 1.0, 1.0, 10**6).debt == 0  # VM debit within the cash: no advance
