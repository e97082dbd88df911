"""The auditor on a history with a full default (tests/audit/default_history.py): it passes, the rules it
replays are all exercised, and each waterfall tamper, made alone, is caught with the right message.

File tampers edit a copy of the published fills file; chain tampers replace the batch that COVERs with a
hand-built one signed by the devnet's risk signers (`DefaultHistory.at_cover`), or settle one more batch on
an Anvil snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from offchain.audit.events.source import VaultHistory
from offchain.audit.events.types import (
    ContributionChanged,
    DebtCollateralSeized,
    DefaultClosed,
    DefaultDeclared,
    EstateClaimed,
    MarginCalled,
    WaterfallDraw,
    WindDownWithdrawal,
)
from offchain.chain.errors import RevertedError
from offchain.chain.vault import vault_sender
from offchain.core.batch import (
    ASSESS,
    COVER,
    DECLARE,
    DEFAULT_FUND_ACCOUNT,
    OPERATOR_CAPITAL_ACCOUNT,
    Batch,
    DefaultAction,
)
from tests.audit.conftest import DefaultHistory
from tests.audit.default_history import settle_signed
from tests.defaults.test_default_e2e import RETAIL

Lines = list[dict[str, Any]]


def _waterfall_line(lines: Lines) -> int:
    (i,) = [i for i, line in enumerate(lines) if line.get("defaults", {}).get("waterfalls")]
    return i


def _seq(h: DefaultHistory, i: int) -> int:
    return int(h.lines()[i]["sequence"])


def test_default_history_passes(default_history: DefaultHistory) -> None:
    h = default_history
    report = h.audit()
    assert report.batches == h.stats.batches
    d = h.devnet
    events = list(VaultHistory(d.vault.w3, d.spec.vault).events_between(0, d.vault.w3.eth.block_number))
    kinds = {type(e) for e in events}
    assert {ContributionChanged, MarginCalled, DefaultDeclared, DefaultClosed} <= kinds
    assert {e.layer for e in events if isinstance(e, WaterfallDraw)} == {1, 2, 3, 4, 5}
    lines = h.lines()
    assert [line["defaults"]["declared"][0]["account"] for line in lines if line.get("defaults", {}).get("declared")]
    assert [x["layer"] for x in lines[_waterfall_line(lines)]["defaults"]["waterfalls"][0]["draws"]] == [
        1,
        2,
        3,
        4,
        5,
        5,
        5,
    ]


def test_the_cover_harness_is_honest(default_history: DefaultHistory) -> None:
    """Replacing the COVER batch by itself, re-signed, passes: the chain tampers below differ only in their rows."""
    h = default_history
    with h.at_cover() as honest:
        settle_signed(h.devnet, honest)
        tip = h.devnet.vault.last_sequence()
        h.expect(h.published, "published", tip + 1, "not settled")  # the batch after it is not settled again yet
        assert h.audit(h.tampered("upto-cover", lambda lines: lines.pop())).batches == tip


# ---------------------------------------------------------------- the published file


def test_published_plan_skips_a_layer(default_history: DefaultHistory) -> None:
    """The published plan claims operator capital (L3) was not drawn and the survivors' pool paid for it."""
    h = default_history
    i = _waterfall_line(h.lines())

    def edit(lines: Lines) -> None:
        draws = lines[i]["defaults"]["waterfalls"][0]["draws"]
        (l3,) = [x for x in draws if x["layer"] == 3]
        (l4,) = [x for x in draws if x["layer"] == 4]
        draws.remove(l3)
        for k in ("amount", "value"):
            l4[k] = str(int(l4[k]) + int(l3[k]))

    h.expect(
        h.tampered("skip-l3", edit),
        "waterfall-plan",
        _seq(h, i),
        "the published plan for the default of account",
        "L3 1000000",
        "first difference: layer 3, published 0, drawn 1000000",
    )


def test_published_plan_missing(default_history: DefaultHistory) -> None:
    h = default_history
    i = _waterfall_line(h.lines())
    path = h.tampered("no-plan", lambda lines: lines[i]["defaults"]["waterfalls"].clear())
    h.expect(path, "waterfall-plan", _seq(h, i), "has no published waterfall plan")


def test_published_declare_misstates_the_position(default_history: DefaultHistory) -> None:
    h = default_history
    (i,) = [i for i, line in enumerate(h.lines()) if line.get("defaults", {}).get("declared")]

    def edit(lines: Lines) -> None:
        positions = lines[i]["defaults"]["declared"][0]["positions"]
        name = sorted(positions)[0]
        positions[name] = str(int(positions[name]) * 2)

    h.expect(h.tampered("declare-pos", edit), "default-published", _seq(h, i), "the fills leave it")


# ---------------------------------------------------------------- the chain


def _assessed(batch: Batch) -> dict[int, int]:
    return {a.account: a.amount for a in batch.default_actions if a.action == ASSESS}


def _with_assessments(batch: Batch, assessed: dict[int, int]) -> Batch:
    rows: list[DefaultAction] = []
    for a in batch.default_actions:
        if a.action == ASSESS:
            continue
        rows.append(a)
        if a.action == COVER:
            rows.extend(DefaultAction(account=m, action=ASSESS, amount=v) for m, v in sorted(assessed.items()) if v)
    return batch.model_copy(update={"default_actions": tuple(rows)})


def test_assessments_off_pro_rata_by_one_unit(default_history: DefaultHistory) -> None:
    """Within every cap and summing to what layers 1-4 left (the vault accepts it), but one base unit moved."""
    h = default_history
    with h.at_cover() as honest:
        honest_split = _assessed(honest)
        assessed = dict(honest_split)
        low, high = min(assessed, key=assessed.__getitem__), max(assessed, key=assessed.__getitem__)
        assessed[low] -= 1
        assessed[high] += 1
        tampered = _with_assessments(honest, assessed)
        settle_signed(h.devnet, tampered)
        first = min(low, high)
        h.expect(
            h.tampered("assess-1", lambda lines: lines.pop()),
            "assessments",
            tampered.sequence,
            "not pro rata to the contributions at DECLARE",
            f"account {first} was assessed {assessed[first]}, its pro-rata share is {honest_split[first]}",
            f"splits as {dict(sorted(honest_split.items()))}, the batch assessed {dict(sorted(assessed.items()))}",
        )


def test_a_member_assessed_for_another(default_history: DefaultHistory) -> None:
    """One survivor is spared and another pays its share (within its cap): caught even though the sum is right."""
    h = default_history
    with h.at_cover() as honest:
        assessed = _assessed(honest)
        spared, payer = sorted(assessed)[1], sorted(assessed)[0]
        share = assessed[spared]
        assessed[payer] += share
        assessed[spared] = 0
        tampered = _with_assessments(honest, assessed)
        settle_signed(h.devnet, tampered)
        h.expect(
            h.tampered("assess-other", lambda lines: lines.pop()),
            "assessments",
            tampered.sequence,
            f"account {payer} was assessed {assessed[payer]}, its pro-rata share is {assessed[payer] - share}",
        )


def test_declare_in_a_batch_without_a_context(default_history: DefaultHistory) -> None:
    """A DECLARE slipped into a batch that commits to no context: such a batch carries no default rows."""
    h = default_history
    d = h.devnet
    retail = d.member(RETAIL).account
    vault = d.vault
    with h.snapshot():
        batch = Batch(
            sequence=vault.last_sequence() + 1,
            prev_hash=vault.last_batch_hash(),
            as_of=int(vault.w3.eth.get_block("latest")["timestamp"]),
            default_actions=(DefaultAction(account=retail, action=DECLARE, amount=0),),
        )
        settle_signed(d, batch)
        line: dict[str, Any] = {
            "sequence": batch.sequence,
            "context": None,
            "fills": [],
            "defaults": {"declared": [], "waterfalls": []},
        }
        h.expect(
            h.tampered("declare", lambda lines: lines.append(line)),
            "no-context",
            batch.sequence,
            "carries default or withdrawal-approval rows",
        )


def test_wind_down_after_a_default(default_history: DefaultHistory) -> None:
    """The escape hatch after the default: the default fund's whole estate goes to the pool's shares with the
    members' cash (governance cannot take it while shares claim it); the books still match the vault's."""
    h = default_history
    d = h.devnet
    w3 = d.vault.w3
    fn = d.vault.contract.functions
    with h.snapshot():
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [8 * 24 * 3600])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        operator = vault_sender(w3, d.spec.operator_key)
        d.vault.trigger_wind_down(operator)
        shares = fn.defaultFundPool().call()[1]
        assert shares > 0
        with pytest.raises(ContractLogicError):
            fn.windDownWithdrawSystem(DEFAULT_FUND_ACCOUNT, 0, operator.address).call({"from": operator.address})
        for m in d.spec.members:
            d.vault.wind_down_withdraw(vault_sender(w3, m.key), 0, m.address)
        d.vault.wind_down_withdraw(operator, 0, operator.address)  # the house account
        for asset in (0, 1):
            for account in (1, 3):
                operator.send(fn.windDownWithdrawSystem(account, asset, operator.address))
        claimants = [fn.accountOf(m.address).call() for m in d.spec.members] + [fn.accountOf(operator.address).call()]
        assert all(fn.estateClaimOf(a, 0).call() == 0 for a in claimants), "every claimant paid its part"
        report = h.audit()
        dust = fn.balanceOf(DEFAULT_FUND_ACCOUNT, 0).call()  # the estate's rounding, < 1 unit per claimant
        assert dust <= len(claimants)
        assert report.assets[0].owed == dust and report.assets[0].balances == dust
        events = list(VaultHistory(w3, d.spec.vault).events_between(0, w3.eth.block_number))
        assert any(isinstance(e, WindDownWithdrawal) for e in events)


def test_a_default_open_at_the_wind_down_is_closed_and_audited(default_history: DefaultHistory) -> None:
    """Issue 11: a default still open at the wind-down (here: the chain just before the COVER, the defaulter's
    book auctioned) used to keep operator capital in the vault for good. Anyone's `closeDefaultAfterWindDown`
    draws the defaulter's own resources, then operator capital up to the debt left, and closes it; operator
    capital's rest is paid, and the audit of the chain so far replays the close."""
    h = default_history
    d = h.devnet
    w3 = d.vault.w3
    fn = d.vault.contract.functions
    with h.at_cover():
        tip = int(fn.lastSequence().call())
        accounts = [int(fn.accountOf(m.address).call()) for m in d.spec.members]
        (defaulter,) = [a for a in accounts if fn.inDefault(a).call()]
        owed = int(fn.debtOf(defaulter).call())
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [8 * 24 * 3600])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        operator = vault_sender(w3, d.spec.operator_key)
        d.vault.trigger_wind_down(operator)
        with pytest.raises(RevertedError) as info:
            operator.send(fn.windDownWithdrawSystem(OPERATOR_CAPITAL_ACCOUNT, 0, operator.address))
        assert info.value.error == "DefaultsOpen"
        anyone = vault_sender(w3, d.spec.members[0].key)
        block = w3.eth.block_number
        anyone.send(fn.closeDefaultAfterWindDown(defaulter))
        assert not fn.inDefault(defaulter).call() and fn.openDefaults().call() == 0
        assert int(fn.debtOf(defaulter).call()) < owed
        operator.send(fn.windDownWithdrawSystem(OPERATOR_CAPITAL_ACCOUNT, 0, operator.address))

        def settled_so_far(lines: Lines) -> None:
            lines[:] = [x for x in lines if "sequence" not in x or int(x["sequence"]) <= tip]

        report = h.audit(h.tampered("open-at-wind-down", settled_so_far))
        assert report.batches == tip
        closed = list(VaultHistory(w3, d.spec.vault).events_between(block + 1, w3.eth.block_number))
        # its collateral (L1), then its part of the estate (L2), which here covers the rest: operator capital
        # (L3, drawn by the unit tests) is paid whole
        kinds = [type(e) for e in closed if getattr(e, "account", None) == defaulter]
        assert kinds == [DebtCollateralSeized, EstateClaimed, DefaultClosed]
        assert int(fn.debtOf(defaulter).call()) == 0
