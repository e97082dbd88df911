"""The auditor's trust-anchor checks (offchain/audit/checks/anchors.py) on headers, contexts and registries
built by hand: the published header against the registry, each batch's terms at its asOf, and each funding
interval against the registry's cap and grid, every rule at its boundary."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from offchain.audit.checks.anchors import AnchorChecker, check_header
from offchain.audit.errors import Discrepancy
from offchain.audit.published import Header, PublishedInstrument, PublishedVenue
from offchain.chain.registry import (
    KEY_OPEN,
    KeyWindow,
    Params,
    RegisteredInstrument,
    RegisteredVenue,
    RegistryState,
    SymbolMapping,
    Terms,
)
from offchain.core.batch import Batch
from offchain.core.context import BatchContext, InstrumentTerms

ZERO32 = b"\x00" * 32
OLD_KEY: str = to_checksum_address("0x" + "01" * 20)
NEW_KEY: str = to_checksum_address("0x" + "02" * 20)
CEX_KEY: str = to_checksum_address("0x" + "03" * 20)
ADDRESS = "0x" + "33" * 20


def terms(qty_decimals: int, fee_bps: int, interval_s: int = 3600, cap_e8: int = 100) -> Terms:
    return Terms(qty_decimals, fee_bps, 500, interval_s, cap_e8, 1)


# BTC-PERP registered at 2 s with three versions of its terms (from 2 s, 5 s and 9 s), so the first, the
# current and the one in force at a given asOf all differ; ETH-PERP registered at 0 s with one version.
REGISTRY = RegistryState(
    address=ADDRESS,
    block=1,
    venues={
        "dex": RegisteredVenue(
            "dex",
            "dex",
            NEW_KEY,
            0,
            (KeyWindow(OLD_KEY, 0, 5), KeyWindow(NEW_KEY, 5, KEY_OPEN)),
            {"BTCUSD": SymbolMapping("BTC-PERP", 0), "ETHUSD": SymbolMapping("ETH-PERP", 0)},
        ),
        "cex": RegisteredVenue("cex", "cex", CEX_KEY, 0, (KeyWindow(CEX_KEY, 0, KEY_OPEN),), {}),
    },
    instruments={
        "BTC-PERP": RegisteredInstrument(
            "BTC-PERP",
            "perp",
            "BTC",
            (
                (2, terms(3, 10, interval_s=1, cap_e8=100)),
                (5, terms(4, 20, interval_s=2, cap_e8=200)),
                (9, terms(5, 30, interval_s=240, cap_e8=300)),
            ),
        ),
        "ETH-PERP": RegisteredInstrument("ETH-PERP", "perp", "ETH", ((0, terms(2, 1)),)),
    },
    tiers={},
    params=Params(fill_max_age_ms=10**6, fill_max_ahead_ms=10**6, min_cure_s=0),
)


def header(
    venues: dict[str, PublishedVenue] | None = None, instruments: dict[str, PublishedInstrument] | None = None
) -> Header:
    return Header(
        venues
        if venues is not None
        else {
            "dex": PublishedVenue("dex", "dex", (OLD_KEY, NEW_KEY), {"BTCUSD": "BTC-PERP", "ETHUSD": "ETH-PERP"}),
            "cex": PublishedVenue("cex", "cex", (CEX_KEY,), {}),
        },
        instruments
        if instruments is not None
        else {
            "BTC-PERP": PublishedInstrument("BTC-PERP", "perp", "BTC", 5, 30),
            "ETH-PERP": PublishedInstrument("ETH-PERP", "perp", "ETH", 2, 1),
        },
    )


def header_refused(h: Header) -> str:
    with pytest.raises(Discrepancy) as exc:
        check_header(h, REGISTRY)
    assert (exc.value.sequence, exc.value.check) == (None, "header-registry")
    return exc.value.detail


def test_a_header_that_caches_the_registry_passes() -> None:
    check_header(header(), REGISTRY)
    # A subset is a cache too: a venue with only its old key, a venue listing no symbol.
    check_header(header(venues={"dex": PublishedVenue("dex", "dex", (OLD_KEY,), {"BTCUSD": "BTC-PERP"})}), REGISTRY)
    check_header(Header({}, {}), REGISTRY)


def test_each_venue_rule_of_the_header() -> None:
    unregistered = {"dax": PublishedVenue("dax", "dex", (), {})}
    assert header_refused(header(venues=unregistered)) == (
        f"the header lists venue 'dax', which is not registered (registry {ADDRESS})"
    )
    assert header_refused(header(venues={"cex": PublishedVenue("cex", "dex", (CEX_KEY,), {})})) == (
        f"the header gives venue 'cex' kind 'dex', the registry 'cex' (registry {ADDRESS})"
    )
    assert header_refused(header(venues={"cex": PublishedVenue("cex", "cex", (CEX_KEY, OLD_KEY), {})})) == (
        f"the header lists {OLD_KEY} as a key of venue 'cex', which never registered it (registry {ADDRESS})"
    )
    assert header_refused(header(venues={"dex": PublishedVenue("dex", "dex", (), {"BTCUSD": "ETH-PERP"})})) == (
        f"the header maps dex:BTCUSD to 'ETH-PERP', the registry to 'BTC-PERP' (registry {ADDRESS})"
    )
    assert header_refused(header(venues={"dex": PublishedVenue("dex", "dex", (), {"SOLUSD": "SOL-PERP"})})) == (
        f"the header maps dex:SOLUSD to 'SOL-PERP', the registry to None (registry {ADDRESS})"
    )


def test_each_instrument_rule_of_the_header_against_the_current_terms() -> None:
    assert header_refused(header(instruments={"SOL-PERP": PublishedInstrument("SOL-PERP", "perp", "SOL", 2, 1)})) == (
        f"the header lists instrument 'SOL-PERP', which is not registered (registry {ADDRESS})"
    )
    want = "('perp', 'BTC', 5, 30)"
    for got in (
        ("spot", "BTC", 5, 30),
        ("perp", "ETH", 5, 30),
        ("perp", "BTC", 4, 30),
        ("perp", "BTC", 5, 20),
        ("perp", "BTC", 3, 10),
    ):
        ins = PublishedInstrument("BTC-PERP", *got)
        assert header_refused(header(instruments={"BTC-PERP": ins})) == (
            f"the header gives BTC-PERP (kind, underlying, qty_decimals, fee_bps) = {got}, the registry {want} "
            f"(registry {ADDRESS})"
        )


def batch(seq: int, as_of: int) -> Batch:
    return Batch(sequence=seq, prev_hash=ZERO32, as_of=as_of, fills_root=ZERO32, context_hash=ZERO32)


def context(
    funding: tuple[tuple[str, int, int], ...] = (), terms_: dict[str, InstrumentTerms] | None = None
) -> BatchContext:
    return BatchContext({}, {}, funding, terms_ if terms_ is not None else {})


def refused(checker: AnchorChecker, b: Batch, ctx: BatchContext) -> tuple[int | None, str, str]:
    with pytest.raises(Discrepancy) as exc:
        checker.check(b, ctx)
    return exc.value.sequence, exc.value.check, exc.value.detail


def test_the_contexts_terms_are_the_registrys_in_force_at_the_asof() -> None:
    checker = AnchorChecker(REGISTRY)
    at = {4: InstrumentTerms(3, 10), 5: InstrumentTerms(4, 20), 8: InstrumentTerms(4, 20), 9: InstrumentTerms(5, 30)}
    for as_of, t in at.items():
        checker.check(batch(1, as_of), context(terms_={"BTC-PERP": t, "ETH-PERP": InstrumentTerms(2, 1)}))
    assert refused(checker, batch(3, 5), context(terms_={"BTC-PERP": InstrumentTerms(3, 20)})) == (
        3,
        "terms",
        "the context settles BTC-PERP with qty_decimals 3 and a fee of 20 bps; the registry's terms at asOf are "
        "4 and 20 bps",
    )
    assert refused(checker, batch(3, 9), context(terms_={"BTC-PERP": InstrumentTerms(5, 20)}))[2] == (
        "the context settles BTC-PERP with qty_decimals 5 and a fee of 20 bps; the registry's terms at asOf are "
        "5 and 30 bps"
    )


def test_an_instrument_without_terms_at_the_asof_is_refused() -> None:
    checker = AnchorChecker(REGISTRY)
    assert refused(checker, batch(2, 1), context(terms_={"BTC-PERP": InstrumentTerms(3, 10)})) == (
        2,
        "terms",
        "BTC-PERP has no terms in the registry at the batch's asOf 1",
    )
    assert refused(checker, batch(2, 9), context(terms_={"SOL-PERP": InstrumentTerms(3, 10)}))[2] == (
        "SOL-PERP has no terms in the registry at the batch's asOf 9"
    )
    assert refused(checker, batch(2, 1), context(funding=(("BTC-PERP", 1000, 0),)))[1:] == (
        "terms",
        "BTC-PERP has no terms in the registry at the batch's asOf 1",
    )


def test_a_funding_rate_may_reach_the_cap_in_force_at_the_asof_and_no_further() -> None:
    for as_of, cap in ((4, 100), (5, 200), (9, 300)):
        for rate in (cap, -cap, 0):
            AnchorChecker(REGISTRY).check(batch(1, as_of), context(funding=(("BTC-PERP", 3000, rate),)))
        for rate in (cap + 1, -cap - 1):
            assert refused(AnchorChecker(REGISTRY), batch(1, as_of), context(funding=(("BTC-PERP", 3000, rate),))) == (
                1,
                "funding-cap",
                f"funding of BTC-PERP at 3000: rate {rate}e-8 of notional, beyond the registry's cap of {cap}e-8 per "
                "interval",
            )


def test_a_funding_interval_lies_between_the_listing_and_the_asof() -> None:
    AnchorChecker(REGISTRY).check(batch(1, 4), context(funding=(("BTC-PERP", 4000, 1),)))
    AnchorChecker(REGISTRY).check(batch(1, 9), context(funding=(("BTC-PERP", 2000, 1),)))
    assert refused(AnchorChecker(REGISTRY), batch(1, 4), context(funding=(("BTC-PERP", 4001, 1),))) == (
        1,
        "funding-grid",
        "funding of BTC-PERP at 4001 is after the batch's asOf 4",
    )
    # Listed at 2 s (its first terms), not at the 5 s or 9 s of later versions.
    assert refused(AnchorChecker(REGISTRY), batch(1, 9), context(funding=(("BTC-PERP", 1999, 1),))) == (
        1,
        "funding-grid",
        "funding of BTC-PERP at 1999 is before the instrument was registered (2)",
    )


def test_funding_once_per_interval_within_a_batch_and_across_batches() -> None:
    # Within one batch, at the interval in force at its asOf: 1 s at asOf 4, 2 s at asOf 7.
    early = AnchorChecker(REGISTRY)
    early.check(batch(1, 4), context(funding=(("BTC-PERP", 2000, 1), ("BTC-PERP", 3000, 1), ("ETH-PERP", 2000, 1))))
    assert early.last_funding_ms == {"BTC-PERP": 3000, "ETH-PERP": 2000}
    assert refused(
        AnchorChecker(REGISTRY), batch(1, 4), context(funding=(("BTC-PERP", 2000, 1), ("BTC-PERP", 2999, 1)))
    ) == (
        1,
        "funding-grid",
        "funding of BTC-PERP at 2999 is 999 ms after the interval at 2000: less than the registry's funding "
        "interval of 1 s (once per interval)",
    )
    AnchorChecker(REGISTRY).check(batch(1, 7), context(funding=(("BTC-PERP", 2000, 1), ("BTC-PERP", 4000, 1))))
    assert refused(
        AnchorChecker(REGISTRY), batch(1, 7), context(funding=(("BTC-PERP", 2000, 1), ("BTC-PERP", 3999, 1)))
    )[2] == (
        "funding of BTC-PERP at 3999 is 1999 ms after the interval at 2000: less than the registry's funding "
        "interval of 2 s (once per interval)"
    )
    # Across batches, at 240 s from asOf 9.
    checker = AnchorChecker(REGISTRY)
    checker.check(
        batch(1, 300), context(funding=(("BTC-PERP", 2000, 1), ("BTC-PERP", 242_000, 1), ("ETH-PERP", 5000, 1)))
    )
    assert checker.last_funding_ms == {"BTC-PERP": 242_000, "ETH-PERP": 5000}
    assert refused(checker, batch(2, 500), context(funding=(("BTC-PERP", 242_000, 1),))) == (
        2,
        "funding",
        "funding of BTC-PERP at 242000 was already applied",
    )
    assert refused(checker, batch(2, 500), context(funding=(("BTC-PERP", 481_999, 1),))) == (
        2,
        "funding-grid",
        "funding of BTC-PERP at 481999 is 239999 ms after the interval at 242000: less than the registry's "
        "funding interval of 240 s (once per interval)",
    )
    # A refused batch records nothing: its first, valid interval is not taken as applied.
    twice = context(funding=(("BTC-PERP", 482_000, 1), ("BTC-PERP", 482_000, 1)))
    assert refused(checker, batch(2, 500), twice)[1] == "funding"
    assert checker.last_funding_ms == {"BTC-PERP": 242_000, "ETH-PERP": 5000}
    checker.check(batch(2, 500), context(funding=(("BTC-PERP", 482_000, 1),)))
    assert checker.last_funding_ms == {"BTC-PERP": 482_000, "ETH-PERP": 5000}
