"""The auditor passes an honest devnet history, and the history exercises every rule it replays."""

from __future__ import annotations

import pytest
from web3.types import RPCEndpoint

from offchain.audit.events.source import VaultHistory
from offchain.audit.events.types import (
    AdvanceRepaid,
    BatchSettled,
    LiquidityAdvanced,
    WithdrawalCancelled,
    WithdrawalExecuted,
    WithdrawalRequested,
)
from offchain.chain.errors import RevertedError
from offchain.chain.vault import vault_sender
from offchain.cli.main import main
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, FEE_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT
from tests.audit.conftest import ROUNDS, History


def test_honest_history_passes(history: History) -> None:
    report = history.audit()
    assert report.batches == ROUNDS + 1  # the funding of the system accounts, then one batch per round
    assert report.fills == history.stats.fills
    assert report.members == 5
    cash = report.assets[0]
    assert cash.pending == 500 * 10**6  # the retail pool's withdrawal waits
    assert cash.owed == cash.balances + cash.pending == cash.held


def test_history_exercises_every_replayed_rule(history: History) -> None:
    d = history.devnet
    events = list(VaultHistory(d.vault.w3, d.spec.vault).events_between(0, d.vault.w3.eth.block_number))
    kinds = {type(e) for e in events}
    assert {LiquidityAdvanced, AdvanceRepaid, WithdrawalRequested, WithdrawalCancelled, WithdrawalExecuted} <= kinds
    lines = history.lines()[1:]
    assert {f["venue"] for line in lines for f in line["fills"]} == {"dex-perp", "cex", "otc-desk"}
    assert any('"funding":[[' in (line["context"] or "") for line in lines)
    assert sum(isinstance(e, BatchSettled) for e in events) == len(lines)


def test_cli_publish_and_audit(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    d = history.devnet
    out = history.tmp / "cli.jsonl"
    assert main(["publish", "--db", d.db_url, "--out", str(out)]) == 0
    assert out.read_text() == history.published.read_text()
    assert main(["audit", "--rpc", d.anvil.url, "--vault", d.spec.vault, "--fills", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "audit passed" in printed and f"batches {ROUNDS + 1}" in printed
    bad = history.tampered("cli-bad", lambda lines: lines[3]["fills"].pop())
    assert main(["audit", "--rpc", d.anvil.url, "--vault", d.spec.vault, "--fills", str(bad)]) == 1
    assert "batch 3: [fills-root]" in capsys.readouterr().err
    missing = history.tmp / "nonexistent.jsonl"
    assert main(["audit", "--rpc", d.anvil.url, "--vault", d.spec.vault, "--fills", str(missing)]) == 2


def test_wind_down_payouts_replay(history: History) -> None:
    """The escape hatch: every member and system account takes its balance out; the books still match."""
    d = history.devnet
    w3 = d.vault.w3
    with history.snapshot():
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [8 * 24 * 3600])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        operator = vault_sender(w3, d.spec.operator_key)
        d.vault.trigger_wind_down(operator)
        for m in d.spec.members:
            d.vault.wind_down_withdraw(vault_sender(w3, m.key), 0, m.address)
        d.vault.wind_down_withdraw(operator, 0, operator.address)  # the house account (the operator's own)
        fn = d.vault.contract.functions
        # the default fund's balances are its estate, the pool shares' (paid above); governance's only without
        # shares. Operator capital is waterfall layer 3: held while a default is open (issue 11, finding 4).
        open_defaults = fn.openDefaults().call()
        system = (FEE_ACCOUNT,) + (() if open_defaults else (OPERATOR_CAPITAL_ACCOUNT,))
        system += () if fn.defaultFundPool().call()[1] else (DEFAULT_FUND_ACCOUNT,)
        for account in system:
            operator.send(fn.windDownWithdrawSystem(account, 0, operator.address))
        if open_defaults:
            with pytest.raises(RevertedError, match="DefaultsOpen"):
                operator.send(fn.windDownWithdrawSystem(OPERATOR_CAPITAL_ACCOUNT, 0, operator.address))
        report = history.audit()
        cash = report.assets[0]
        dust = fn.balanceOf(DEFAULT_FUND_ACCOUNT, 0).call()  # the estate's rounding, < 1 unit per claimant
        assert dust <= len(d.spec.members) + 1
        held = fn.balanceOf(OPERATOR_CAPITAL_ACCOUNT, 0).call()  # layer 3, still there while a default is open
        assert (held > 0) == bool(open_defaults)
        assert cash.owed == cash.pending + dust + held and cash.pending == 500 * 10**6  # the pending one is owed
        assert cash.balances == dust + held
