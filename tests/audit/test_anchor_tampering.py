"""Tampers the registry catches: the trust anchors (venues, keys, symbol maps, terms, the funding grid, the
ingest window) come from the chain, the published header is only a cache checked against it, and a batch
without a context carries only what the trust model allows.

Each chain tamper is computed by the hostile operator consistently with its own lie (tests/audit/
anchor_helpers.py), so the transfers check alone would pass it; each is caught by the check it names.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account

from offchain.audit import AuditError
from offchain.chain.deploy import deploy_registry
from offchain.chain.registry import RegistryClient, RegistryState, discover_registry, registry_error_decoder
from offchain.chain.transactions import TxSender
from offchain.cli.main import main
from offchain.core.batch import DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT, MarginCall, Requirement, Transfer
from offchain.core.context import InstrumentTerms
from offchain.core.fills import Fill
from offchain.devnet.bootstrap import DEVNET_FUNDING_CAP_E8, DEVNET_REGISTRY_PARAMS
from tests.audit.anchor_helpers import Tamper, settle_tampered, signed_fill
from tests.audit.conftest import History
from tests.audit.history import DAO, FUND, MM, RETAIL
from tests.audit.published_helpers import fill_of, middle_batch_with_fills
from tests.settlement.conftest import BTC_QTY, USDC

Lines = list[dict[str, Any]]
BTC, ETH = "BTC-USD-PERP", "ETH-USD-PERP"


def _append(history: History, name: str, line: dict[str, Any], header_edit: Any = None) -> Any:
    def edit(lines: Lines) -> None:
        if header_edit is not None:
            header_edit(lines[0])
        lines.append(line)

    return history.tampered(name, edit)


def _fill(history: History, venue: str, symbol: str, buyer: str, seller: str, usd: float, **kw: Any) -> Fill:
    d = history.devnet
    fields: dict[str, Any] = {
        "venue": venue,
        "venue_fill_id": kw.pop("fid", "tamper-1"),
        "symbol": symbol,
        "buyer": d.member(buyer).address,
        "seller": d.member(seller).address,
        "qty": kw.pop("qty", BTC_QTY // 10),
        "price": round(usd * USDC),
        "ts": kw.pop("ts", d.now_ms()),
    }
    return Fill(**fields)


def _venue_key(history: History, name: str) -> str:
    return next(v.key for v in history.devnet.spec.venues if v.name == name)


def _last_mark(history: History, instrument: str) -> int:
    for line in reversed(history.lines()[1:]):
        if line["context"]:
            marks = json.loads(line["context"])["marks"]
            if instrument in marks:
                return int(marks[instrument])
    raise AssertionError(f"{instrument} never marked")


# ---------------------------------------------------------------- the header is a cache of the registry


def test_header_matches_the_registry(history: History) -> None:
    d = history.devnet
    state = RegistryState.read(d.vault.w3, d.spec.registry)
    header = history.lines()[0]
    assert set(header["venues"]) == set(state.venues)
    for name, v in header["venues"].items():
        assert v["symbols"] == {s: m.instrument for s, m in state.venues[name].symbols.items()}
    assert discover_registry(d.vault.w3, d.spec.vault, 0, d.vault.w3.eth.block_number) == d.spec.registry


def test_header_invents_a_venue(history: History) -> None:
    forger = Account.create()

    def edit(lines: Lines) -> None:
        lines[0]["venues"]["shadow-otc"] = {"kind": "otc", "signers": [forger.address], "symbols": {"X": BTC}}

    history.expect(
        history.tampered("hdr-venue", edit), "header-registry", None, "'shadow-otc', which is not registered"
    )


def test_header_invents_a_venue_key(history: History) -> None:
    forger = Account.create()

    def edit(lines: Lines) -> None:
        lines[0]["venues"]["cex"]["signers"].append(forger.address)

    history.expect(history.tampered("hdr-key", edit), "header-registry", None, forger.address, "never registered it")


def test_header_remaps_a_symbol(history: History) -> None:
    def edit(lines: Lines) -> None:
        lines[0]["venues"]["cex"]["symbols"]["BTCUSDT"] = ETH

    history.expect(history.tampered("hdr-sym", edit), "header-registry", None, "cex:BTCUSDT to 'ETH-USD-PERP'")


def test_header_changes_terms(history: History) -> None:
    def edit(lines: Lines) -> None:
        for i in lines[0]["instruments"]:
            if i["name"] == BTC:
                i["clearing_fee_bps"] = 500

    history.expect(history.tampered("hdr-fee", edit), "header-registry", None, "BTC-USD-PERP")


# ---------------------------------------------------------------- fills against the registry


def test_fill_of_an_invented_venue(history: History) -> None:
    """The operator settles fills of a venue it made up (signed by its own key); the header stays honest."""
    forger = Account.create()
    with history.snapshot():
        fill = _fill(history, "shadow-otc", "XBT/USD", MM, FUND, _last_mark(history, BTC) / USDC)
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, forger.key, BTC, fill)]))
        history.expect(_append(history, "inv-venue", line), "fill-venue", line["sequence"], "'shadow-otc'")


def test_fill_settled_as_another_instrument_through_the_header(history: History) -> None:
    """A real cex BTC fill settled as ETH: the header's symbol map says so, the registry does not."""
    with history.snapshot():
        fill = _fill(history, "cex", "BTCUSDT", MM, FUND, _last_mark(history, ETH) / USDC)
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), ETH, fill)]))

        def remap(header: dict[str, Any]) -> None:
            header["venues"]["cex"]["symbols"]["BTCUSDT"] = ETH

        history.expect(_append(history, "as-eth-hdr", line, remap), "header-registry", None, "cex:BTCUSDT")
        history.expect(
            _append(history, "as-eth", line), "fill-symbol", line["sequence"], "maps symbol 'BTCUSDT' to 'BTC-USD-PERP'"
        )


def test_real_fill_resigned_under_a_new_id(history: History) -> None:
    """A settled fill replayed under a new id, signed by a key the operator holds: not the venue's key."""
    i = middle_batch_with_fills(history.lines())
    original = fill_of(history.lines()[i]["fills"][0])
    instrument = history.lines()[i]["fills"][0]["instrument"]
    operator_key = Account.create()
    with history.snapshot():
        copy = original.model_copy(update={"venue_fill_id": "replayed-1", "ts": history.devnet.now_ms()})
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, operator_key.key, instrument, copy)]))
        history.expect(
            _append(history, "resigned", line),
            "fill-signature",
            line["sequence"],
            operator_key.address,
            f"venue {original.venue}'s registered key",
        )

        def list_key(header: dict[str, Any]) -> None:
            header["venues"][original.venue]["signers"].append(operator_key.address)

        history.expect(_append(history, "resigned-hdr", line, list_key), "header-registry", None, operator_key.address)


def test_key_rotation_keeps_old_fills_valid_and_ends_the_old_key(history: History) -> None:
    """The venue rotates its key through the registry (co-signed by its current key): the whole history,
    signed by the old key, still passes; a fill signed by the old key after the rotation is caught."""
    d = history.devnet
    w3 = d.vault.w3
    with history.snapshot():
        governor = TxSender(w3, d.spec.operator_key, registry_error_decoder())
        new = Account.create()
        RegistryClient(w3, d.spec.registry).rotate_venue_key(governor, "cex", new.address, _venue_key(history, "cex"))
        assert history.audit().batches == len(history.lines()) - 1
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        late = _fill(history, "cex", "BTCUSDT", MM, FUND, _last_mark(history, BTC) / USDC, fid="late-1")
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, late)]))
        history.expect(_append(history, "old-key", line), "fill-signature", line["sequence"], new.address)
        header = history.lines()[0]
        assert header["venues"]["cex"]["signers"]  # the cache lists the old key, which the registry still has


def test_fill_timestamps_outside_the_ingest_window(history: History) -> None:
    d = history.devnet
    px = _last_mark(history, BTC) / USDC
    ahead = DEVNET_REGISTRY_PARAMS.fill_max_ahead_ms
    with history.snapshot():
        future = _fill(history, "cex", "BTCUSDT", MM, FUND, px, ts=d.now_ms() + ahead + 60_000)
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, future)]))
        history.expect(_append(history, "future", line), "fill-window", line["sequence"], "after the batch's asOf")
    with history.snapshot():
        last_as_of = d.vault.settled_batches()[-1].batch.as_of  # the last batch that settled BTC
        stale = last_as_of * 1000 - DEVNET_REGISTRY_PARAMS.fill_max_age_ms - 60_000
        old = _fill(history, "cex", "BTCUSDT", MM, FUND, px, ts=stale)
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, old)]))
        history.expect(_append(history, "old", line), "fill-window", line["sequence"], "before")


# ---------------------------------------------------------------- context terms and funding


def test_context_decimals_against_the_registry(history: History) -> None:
    """qty_decimals 6 instead of 8 makes every VM x100: computed consistently, still caught."""
    with history.snapshot():
        line = settle_tampered(history, Tamper(move_marks_bps=100, terms={BTC: InstrumentTerms(6, 1)}))
        history.expect(_append(history, "decimals", line), "terms", line["sequence"], "qty_decimals 6")


def test_context_fee_against_the_registry(history: History) -> None:
    with history.snapshot():
        fill = _fill(history, "cex", "BTCUSDT", MM, FUND, _last_mark(history, BTC) / USDC, fid="fee-1")
        line = settle_tampered(
            history,
            Tamper(
                fills=[signed_fill(history, _venue_key(history, "cex"), BTC, fill)],
                terms={BTC: InstrumentTerms(8, 500)},
            ),
        )
        history.expect(_append(history, "fee", line), "terms", line["sequence"], "500 bps", "1 bps")


def test_funding_beyond_the_cap(history: History) -> None:
    ts = history.devnet.now_ms() - 1
    with history.snapshot():
        line = settle_tampered(history, Tamper(funding=[(BTC, ts, 10**8)]))  # 100% of notional
        history.expect(
            _append(history, "cap", line), "funding-cap", line["sequence"], f"cap of {DEVNET_FUNDING_CAP_E8}"
        )


def test_funding_interval_dated_1970(history: History) -> None:
    with history.snapshot():
        line = settle_tampered(history, Tamper(funding=[(BTC, 3_600_000, 800)]))
        history.expect(
            _append(history, "1970", line), "funding-grid", line["sequence"], "before the instrument was registered"
        )


def test_same_funding_interval_twice_in_one_batch(history: History) -> None:
    ts = history.devnet.now_ms() - 10
    with history.snapshot():
        line = settle_tampered(history, Tamper(funding=[(BTC, ts - 1, 800), (BTC, ts, 800)]))
        history.expect(_append(history, "twice", line), "funding-grid", line["sequence"], "once per interval")


def test_funding_after_as_of(history: History) -> None:
    with history.snapshot():
        line = settle_tampered(history, Tamper(funding=[(BTC, history.devnet.now_ms() + 3_600_000, 800)]))
        history.expect(_append(history, "ahead", line), "funding-grid", line["sequence"], "after the batch's asOf")


def test_honest_funding_one_interval_later_passes(history: History) -> None:
    """The harness is honest: funding an interval after the last one, within the cap, by the rule, passes."""
    d = history.devnet
    with history.snapshot():
        d.vault.w3.provider.make_request("evm_increaseTime", [3_600])  # type: ignore[arg-type]
        d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        line = settle_tampered(history, Tamper(funding=[(BTC, d.now_ms() - 1, 800)]))
        assert history.audit(_append(history, "honest-funding", line)).batches == line["sequence"]


# ---------------------------------------------------------------- batches without a context


@pytest.mark.parametrize("to", [OPERATOR_CAPITAL_ACCOUNT, DEFAULT_FUND_ACCOUNT])
def test_no_context_batch_takes_a_members_cash(history: History, to: int) -> None:
    victim = history.devnet.member(FUND).account
    with history.snapshot():
        moves = (
            Transfer(account=victim, asset=0, amount=-1_000 * USDC),
            Transfer(account=to, asset=0, amount=1_000 * USDC),
        )
        line = settle_tampered(history, Tamper(context=False, transfers=moves))
        history.expect(
            _append(history, f"take-{to}", line), "no-context", line["sequence"], f"account {victim}", "operator's own"
        )


def test_no_context_batch_from_the_operator_passes(history: History) -> None:
    """What the trust model allows: the operator funds operator capital from its own member account."""
    d = history.devnet
    with history.snapshot():
        moves = (
            Transfer(account=d.spec.house_account, asset=0, amount=-1 * USDC),
            Transfer(account=OPERATOR_CAPITAL_ACCOUNT, asset=0, amount=1 * USDC),
        )
        line = settle_tampered(history, Tamper(context=False, transfers=moves))
        assert history.audit(_append(history, "op-capital", line)).batches == line["sequence"]


# ---------------------------------------------------------------- close-outs


def test_auction_fill_between_two_healthy_members(history: History) -> None:
    d = history.devnet
    assert d.spec.auction_venue is not None
    px = 2 * _last_mark(history, BTC) / USDC  # at twice the mark
    with history.snapshot():
        fill = _fill(history, d.spec.auction_venue.name, BTC, RETAIL, MM, px, fid="auction-1")
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, d.spec.auction_venue.key, BTC, fill)]))
        history.expect(_append(history, "auction", line), "auction-fill", line["sequence"], "neither in default")


# ---------------------------------------------------------------- finding the registry


def test_a_look_alike_registry_makes_discovery_fail_closed(history: History) -> None:
    """A second registry under the vault's governor: the auditor refuses to choose (pass --registry)."""
    d = history.devnet
    w3 = d.vault.w3
    with history.snapshot():
        governor = TxSender(w3, d.spec.operator_key, registry_error_decoder())
        # a registry governed by someone else is never a candidate
        deploy_registry(governor, Account.create().address, DEVNET_REGISTRY_PARAMS)
        assert history.audit().batches == len(history.lines()) - 1
        deploy_registry(governor, governor.address, DEVNET_REGISTRY_PARAMS)
        with pytest.raises(AuditError, match="2 registries are governed"):
            history.audit()
        assert history.audit_with_registry(d.spec.registry).batches == len(history.lines()) - 1


# ---------------------------------------------------------------- more of the adversary's options


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("kind", "otc", "kind 'otc'"),
        ("symbols", {"BTCUSDT": BTC}, None),  # a symbol dropped from the cache is fine; see below
    ],
)
def test_header_venue_fields(history: History, field: str, value: Any, words: str | None) -> None:
    def edit(lines: Lines) -> None:
        lines[0]["venues"]["cex"][field] = value

    path = history.tampered(f"hdr-{field}", edit)
    if words is None:
        assert history.audit(path).batches == len(history.lines()) - 1  # the cache may be partial, never wrong
    else:
        history.expect(path, "header-registry", None, words)


@pytest.mark.parametrize(("field", "value"), [("kind", "future"), ("underlying", "ETH"), ("qty_decimals", 6)])
def test_header_instrument_fields(history: History, field: str, value: Any) -> None:
    def edit(lines: Lines) -> None:
        for i in lines[0]["instruments"]:
            if i["name"] == BTC:
                i[field] = value

    history.expect(history.tampered(f"hdr-ins-{field}", edit), "header-registry", None, BTC)


def test_header_invents_an_instrument(history: History) -> None:
    def edit(lines: Lines) -> None:
        lines[0]["instruments"].append(
            {"name": "SOL-USD-PERP", "kind": "perp", "underlying": "SOL", "qty_decimals": 8, "clearing_fee_bps": 1}
        )

    history.expect(
        history.tampered("hdr-ins", edit), "header-registry", None, "'SOL-USD-PERP', which is not registered"
    )


def _governor(history: History) -> tuple[TxSender, RegistryClient]:
    d = history.devnet
    return TxSender(d.vault.w3, d.spec.operator_key, registry_error_decoder()), RegistryClient(
        d.vault.w3, d.spec.registry
    )


def test_symbol_mapped_after_the_batch_as_of(history: History) -> None:
    """A symbol mapped through governance today does not make a batch dated before it valid."""
    d = history.devnet
    governor, reg = _governor(history)
    previous_as_of = d.vault.settled_batches()[-1].batch.as_of
    with history.snapshot():
        reg.map_symbol(governor, "cex", "XBTUSDT", BTC)
        fill = _fill(history, "cex", "XBTUSDT", MM, FUND, _last_mark(history, BTC) / USDC, ts=previous_as_of * 1000)
        line = settle_tampered(
            history,
            Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, fill)], as_of=previous_as_of),
        )
        history.expect(_append(history, "late-map", line), "fill-symbol", line["sequence"], "after asOf")


def test_fill_signed_by_a_key_before_its_window(history: History) -> None:
    """The venue announced a new key from a future time: a fill it signs now with that key is not valid yet."""
    d = history.devnet
    governor, reg = _governor(history)
    new = Account.create()
    with history.snapshot():
        start = int(d.vault.w3.eth.get_block("latest")["timestamp"]) + 3_600
        reg.rotate_venue_key(governor, "cex", new.address, _venue_key(history, "cex"), valid_from=start)
        fill = _fill(history, "cex", "BTCUSDT", MM, FUND, _last_mark(history, BTC) / USDC, fid="early-1")
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, new.key, BTC, fill)]))
        history.expect(_append(history, "early", line), "fill-signature", line["sequence"], new.address)


def test_price_off_the_registered_tick(history: History) -> None:
    governor, reg = _governor(history)
    state = RegistryState.read(history.devnet.vault.w3, history.devnet.spec.registry)
    terms = state.instruments[BTC].versions[-1][1]
    with history.snapshot():
        reg.set_terms(governor, BTC, replace(terms, tick=100))
        px = _last_mark(history, BTC) // 100 * 100 + 1
        fill = _fill(history, "cex", "BTCUSDT", MM, FUND, px / USDC, fid="tick-1")
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, fill)]))
        history.expect(_append(history, "tick", line), "fill-tick", line["sequence"], "tick 100")


def test_governed_fee_change_judges_batches_by_their_time(history: History) -> None:
    """The registry raises the fee to 3 bps: the history (1 bps at its time) still passes; a batch after the
    change still charging 1 bps is caught."""
    governor, reg = _governor(history)
    state = RegistryState.read(history.devnet.vault.w3, history.devnet.spec.registry)
    terms = state.instruments[BTC].versions[-1][1]
    with history.snapshot():
        reg.set_terms(governor, BTC, replace(terms, fee_bps=3))

        def fee3(header: dict[str, Any]) -> None:
            for i in header["instruments"]:
                if i["name"] == BTC:
                    i["clearing_fee_bps"] = 3

        cache = history.tampered("fee3", lambda lines: fee3(lines[0]))
        assert history.audit(cache).batches == len(history.lines()) - 1
        fill = _fill(history, "cex", "BTCUSDT", MM, FUND, _last_mark(history, BTC) / USDC, fid="fee-old")
        line = settle_tampered(history, Tamper(fills=[signed_fill(history, _venue_key(history, "cex"), BTC, fill)]))
        history.expect(_append(history, "fee-old", line, fee3), "terms", line["sequence"], "1 bps", "3 bps")


def test_funding_at_the_cap_passes_and_one_above_fails(history: History) -> None:
    d = history.devnet
    for rate in (-DEVNET_FUNDING_CAP_E8, DEVNET_FUNDING_CAP_E8 + 1):
        with history.snapshot():
            d.vault.w3.provider.make_request("evm_increaseTime", [3_600])  # type: ignore[arg-type]
            d.vault.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            line = settle_tampered(history, Tamper(funding=[(BTC, d.now_ms() - 1, rate)]))
            path = _append(history, f"cap-{rate}", line)
            if rate == -DEVNET_FUNDING_CAP_E8:
                assert history.audit(path).batches == line["sequence"]
            else:
                history.expect(path, "funding-cap", line["sequence"])


def test_last_funding_interval_applied_again(history: History) -> None:
    last = max(
        int(ts)
        for line in history.lines()[1:]
        if line["context"]
        for instrument, ts, _ in json.loads(line["context"])["funding"]
        if instrument == BTC
    )
    with history.snapshot():
        line = settle_tampered(history, Tamper(funding=[(BTC, last, 800)]))
        history.expect(_append(history, "again", line), "funding", line["sequence"], "already applied")


def test_no_context_batch_posts_requirements(history: History) -> None:
    d = history.devnet
    moves = (
        Transfer(account=d.spec.house_account, asset=0, amount=-1 * USDC),
        Transfer(account=OPERATOR_CAPITAL_ACCOUNT, asset=0, amount=1 * USDC),
    )
    mm = d.member(MM).account
    with history.snapshot():
        line = settle_tampered(
            history, Tamper(context=False, transfers=moves, requirements=[Requirement(account=mm, im=1, mm=1)])
        )
        history.expect(_append(history, "nc-req", line), "no-context", line["sequence"], "margin requirements")


def test_margin_call_with_less_than_the_minimum_cure(history: History) -> None:
    """BTC halves: the DAO's long takes an advance (a real breach); a call with a deadline 1 s away is caught,
    the same call with the registry's minimum cure passes."""
    d = history.devnet
    dao = d.member(DAO).account
    cure = DEVNET_REGISTRY_PARAMS.min_cure_s
    now = int(d.vault.w3.eth.get_block("latest")["timestamp"])
    with history.snapshot():
        line = settle_tampered(
            history,
            Tamper(
                move_marks_bps=-5_000, as_of=now, margin_calls=[MarginCall(account=dao, amount=1, deadline=now + 1)]
            ),
        )
        history.expect(
            _append(history, "short-cure", line), "margin-call", line["sequence"], f"minimum cure of {cure} s"
        )
    with history.snapshot():
        line = settle_tampered(
            history,
            Tamper(
                move_marks_bps=-5_000, as_of=now, margin_calls=[MarginCall(account=dao, amount=1, deadline=now + cure)]
            ),
        )
        assert history.audit(_append(history, "min-cure", line)).batches == line["sequence"]


def test_cli_registry_option(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    d = history.devnet
    base = ["audit", "--rpc", d.anvil.url, "--vault", d.spec.vault, "--fills", str(history.published)]
    assert main([*base, "--registry", d.spec.registry]) == 0
    assert "audit passed" in capsys.readouterr().out
    assert main([*base, "--registry", Account.create().address]) == 2  # no contract there
    assert "no registry contract" in capsys.readouterr().err
