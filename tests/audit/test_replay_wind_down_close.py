"""The auditor's replay of `closeDefaultAfterWindDown` (issue 11: a default still open at the wind-down used to keep
operator capital in the vault for good), without a chain. Its transaction emits the defaulter's seizures
(`DebtCollateralSeized`) and estate nettings (`EstateClaimed`), applied from their events, then the layer-3
`WaterfallDraw` and `DefaultClosed`, which the rules give at the DefaultClosed: operator capital's cash up to the
debt left, once the defaulter's own resources are drawn. Numbers as
contracts/test/unit/VaultWindDownDefaultClose.t.sol's test_closeAppliesTheWaterfallOrder (DefaultsFixture, 4,000
repaid before the wind-down)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from offchain.audit.errors import Discrepancy
from offchain.audit.events.fund import DefaultRecord, Stake
from offchain.audit.events.replay import AssetMark, ReplayError, VaultReplay
from offchain.audit.events.types import (
    DebtCollateralSeized,
    DefaultClosed,
    EstateClaimed,
    VaultEvent,
    WaterfallDraw,
    Where,
)
from offchain.audit.runner import _Replay
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT

ALICE, BOB, CAROL = 4, 5, 6
USD, WETH = 0, 1
UNIT, WETH_UNIT = 10**6, 10**18


def _wound_down() -> VaultReplay:
    r = VaultReplay()
    r.marks[USD] = AssetMark(UNIT, 0, 6)
    r.marks[WETH] = AssetMark(2_000 * UNIT, 2_000, 18)
    for account, shares in ((ALICE, 10_000 * UNIT), (BOB, 6_000 * UNIT), (CAROL, 4_000 * UNIT)):
        r.fund.stakes[account] = Stake(shares=shares)
    r.fund.shares = 20_000 * UNIT
    r.fund.defaults[ALICE] = DefaultRecord(20_000 * UNIT, 20_000 * UNIT, 1, 0, True)
    r.fund.open = 1
    r.balances[(DEFAULT_FUND_ACCOUNT, USD)] = 34_000 * UNIT
    r.balances[(OPERATOR_CAPITAL_ACCOUNT, USD)] = 5_000 * UNIT
    r.balances[(ALICE, WETH)] = 5 * WETH_UNIT
    r.debt[ALICE] = 36_000 * UNIT
    r.wound_down = True
    return r


def _walk(r: VaultReplay, events: list[VaultEvent]) -> None:
    none = cast(Any, None)  # the close touches only the replay and the holding window
    w = _Replay(lines=iter(()), chain=none, fills=none, anchors=none, calls=none, operators=none, margin=none, replay=r)
    for e in events:
        w.apply(e)
    w.end_of_transaction()


def _at(i: int) -> Where:
    return Where(block=1, log_index=i, tx_hash=b"close")


def _events(opcap_draw: int = 4_000 * UNIT, net_weth: bool = True) -> list[VaultEvent]:
    events: list[VaultEvent] = [
        DebtCollateralSeized(_at(0), ALICE, WETH, 5 * WETH_UNIT),
        EstateClaimed(_at(1), ALICE, USD, 17_000 * UNIT, 17_000 * UNIT),
    ]
    if net_weth:
        events.append(EstateClaimed(_at(2), ALICE, WETH, WETH_UNIT * 5 // 2, WETH_UNIT * 5 // 2))
    events.append(WaterfallDraw(_at(3), ALICE, 3, OPERATOR_CAPITAL_ACCOUNT, USD, opcap_draw, opcap_draw))
    events.append(DefaultClosed(_at(4), ALICE))
    return events


def test_the_close_draws_its_own_resources_then_operator_capital() -> None:
    r = _wound_down()
    _walk(r, _events())
    assert r.debt[ALICE] == 0 and not r.fund.is_open(ALICE) and r.fund.open == 0
    assert r.balances[(OPERATOR_CAPITAL_ACCOUNT, USD)] == 1_000 * UNIT
    assert r.balances[(DEFAULT_FUND_ACCOUNT, USD)] == 38_000 * UNIT
    assert r.balances[(DEFAULT_FUND_ACCOUNT, WETH)] == 5 * WETH_UNIT


def test_a_close_drawing_more_operator_capital_than_the_rules_is_a_discrepancy() -> None:
    with pytest.raises(Discrepancy, match="default-fund events"):
        _walk(_wound_down(), _events(opcap_draw=5_000 * UNIT))


def test_operator_capital_drawn_before_the_defaulters_estate_part_is_a_discrepancy() -> None:
    with pytest.raises(Discrepancy, match="without netting its part of asset 1"):
        _walk(_wound_down(), _events(net_weth=False))


def test_the_rest_beyond_every_layer_stays_its_debt() -> None:
    r = _wound_down()
    r.balances[(OPERATOR_CAPITAL_ACCOUNT, USD)] = 1_000 * UNIT
    _walk(r, _events(opcap_draw=1_000 * UNIT))
    assert r.debt[ALICE] == 3_000 * UNIT and r.fund.open == 0
    assert r.balances[(OPERATOR_CAPITAL_ACCOUNT, USD)] == 0


def test_a_close_before_the_wind_down_is_refused() -> None:
    r = _wound_down()
    r.wound_down = False
    with pytest.raises(ReplayError, match="before the wind-down"):
        r.close_default_after_wind_down(ALICE)
