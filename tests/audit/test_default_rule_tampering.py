"""Defaults by the rules, on the history with a full default: the batch that COVERs is replaced by the
engine's own batch with tampered rows, re-signed by the risk signers (`DefaultHistory.at_cover`); the vault
accepts each of them, the auditor names the rule each breaks."""

from __future__ import annotations

from typing import Any

from offchain.audit.published import fill_json, parse_fill
from offchain.core.batch import DECLARE, Batch, DefaultAction, MarginCall
from offchain.core.fills import fills_domain
from offchain.core.merkle import root_of
from tests.audit.conftest import DefaultHistory
from tests.audit.default_history import settle_signed
from tests.audit.published_helpers import resign
from tests.defaults.test_default_e2e import RETAIL

Lines = list[dict[str, Any]]


def _line(h: DefaultHistory, seq: int) -> int:
    (i,) = [i for i, line in enumerate(h.lines()) if i and line["sequence"] == seq]
    return i


def test_healthy_member_called_with_deadline_zero_and_declared(default_history: DefaultHistory) -> None:
    h = default_history
    retail = h.devnet.member(RETAIL).account
    with h.at_cover() as honest:
        tampered = honest.model_copy(
            update={
                "margin_calls": (*honest.margin_calls, MarginCall(account=retail, amount=1_000_000, deadline=0)),
                "default_actions": (*honest.default_actions, DefaultAction(account=retail, action=DECLARE, amount=0)),
            }
        )
        settle_signed(h.devnet, tampered)
        h.expect(
            h.tampered("healthy-call", lambda lines: lines.pop()),
            "margin-call",
            tampered.sequence,
            f"account {retail} is called for 1000000 though it is not in breach",
        )


def test_declared_in_the_batch_that_calls(default_history: DefaultHistory) -> None:
    """Even with a real breach, a call and its DECLARE in one batch leave no cure period."""
    h = default_history
    retail = h.devnet.member(RETAIL).account
    with h.at_cover() as honest:
        tampered = honest.model_copy(
            update={
                "default_actions": (*honest.default_actions, DefaultAction(account=retail, action=DECLARE, amount=0)),
            }
        )
        settle_signed(h.devnet, tampered)
        h.expect(
            h.tampered("same-batch", lambda lines: lines.pop()),
            "declare",
            tampered.sequence,
            f"DECLARE of account {retail}, whose margin call was not opened in an earlier batch",
        )


def _with_fills(honest: Batch, lines: Lines, i: int, fills: list[dict[str, Any]]) -> Batch:
    lines[i]["fills"] = fills
    return honest.model_copy(update={"fills_root": root_of([parse_fill(f).fill.leaf() for f in fills])})


def test_close_out_to_the_house_at_one_and_a_half_times_the_mark(default_history: DefaultHistory) -> None:
    h = default_history
    d = h.devnet
    assert d.spec.auction_venue is not None
    key, domain = d.spec.auction_venue.key, fills_domain(d.spec.chain_id, d.spec.vault)
    with h.at_cover() as honest:
        lines = h.lines()
        i = _line(h, honest.sequence)
        fills = lines[i]["fills"]
        (k,) = [k for k, f in enumerate(fills) if f["venue"] == d.spec.auction_venue.name]
        fills[k] = resign(dict(fills[k], price=str(int(fills[k]["price"]) * 3 // 2)), key, domain)
        tampered = _with_fills(honest, lines, i, fills)
        settle_signed(d, tampered)

        def edit(out: Lines) -> None:
            out[i]["fills"] = fills
            out.pop()

        h.expect(h.tampered("house-1.5x", edit), "auction-fill", tampered.sequence, "outside the registered band")


def test_close_out_that_grows_the_defaulters_position(default_history: DefaultHistory) -> None:
    h = default_history
    d = h.devnet
    assert d.spec.auction_venue is not None
    key, domain = d.spec.auction_venue.key, fills_domain(d.spec.chain_id, d.spec.vault)
    with h.at_cover() as honest:
        lines = h.lines()
        i = _line(h, honest.sequence)
        fills = lines[i]["fills"]
        (k,) = [k for k, f in enumerate(fills) if f["venue"] == d.spec.auction_venue.name]
        f = fills[k]
        fills[k] = resign(dict(f, buyer=f["seller"], seller=f["buyer"]), key, domain)  # the defaulter buys more
        tampered = _with_fills(honest, lines, i, fills)
        settle_signed(d, tampered)

        def edit(out: Lines) -> None:
            out[i]["fills"] = fills
            out.pop()

        h.expect(h.tampered("grow", edit), "auction-fill", tampered.sequence, "a close-out only reduces it")
        assert fill_json(parse_fill(fills[k]))["buyer"] == f["seller"]


def test_defaulter_trades_on_an_ordinary_venue(default_history: DefaultHistory) -> None:
    """A member in default is closed out only by the auction venue: a cex fill with it is caught."""
    h = default_history
    d = h.devnet
    cex = next(v for v in d.spec.venues if v.name == "cex")
    domain = fills_domain(d.spec.chain_id, d.spec.vault)
    with h.at_cover() as honest:
        lines = h.lines()
        i = _line(h, honest.sequence)
        auction = next(f for f in lines[i]["fills"] if f["venue"] != cex.name)
        extra = dict(auction, venue=cex.name, venue_fill_id="defaulter-on-cex", symbol="BTCUSDT")
        fills = [*lines[i]["fills"], resign(extra, cex.key, domain)]
        tampered = _with_fills(honest, lines, i, fills)
        settle_signed(d, tampered)

        def edit(out: Lines) -> None:
            out[i]["fills"] = fills
            out.pop()

        h.expect(h.tampered("defaulter-cex", edit), "auction-fill", tampered.sequence, "trades on venue 'cex'")
