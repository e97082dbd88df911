"""`price-signature`: an observation that carries a signature is checked against the signer it names, and an
observation of a source whose key the verifier knows must be signed by that key (offchain/audit/checks/prices.py).
Real secp256k1 signatures over the marketdata observation's own digest text (EIP-191)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from offchain.audit.checks.prices import SourceKeys, check_marks, index_of
from offchain.audit.errors import Discrepancy
from offchain.chain.registry import KEY_OPEN, KeyWindow, Params, RegisteredVenue, RegistryState
from offchain.core.batch import Batch
from offchain.core.context import BatchContext
from offchain.marketdata.index import IndexRule
from offchain.marketdata.observations import Observation

SYMBOL = "BTC-USD-PERP"
PRICE = 20_000 * 10**6
SOURCE_KEY = Account.from_key("0x" + "a1" * 32)
OTHER_KEY = Account.from_key("0x" + "b2" * 32)
KEYS = {"signing-feed": SOURCE_KEY.address}
BATCH = Batch(sequence=7, prev_hash=b"\x00" * 32, as_of=1_700_000_000)
CTX = BatchContext(marks={SYMBOL: PRICE}, previous_marks={}, funding=(), terms={})


def signed(source: str, price: int, ts: int, key: Any) -> Observation:
    obs = Observation(SYMBOL, source, price, ts)
    sig = bytes(Account.sign_message(encode_defunct(text=obs.digest_text()), key.key).signature)
    return Observation(SYMBOL, source, price, ts, sig, key.address)


def evidence(*observations: Observation) -> dict[str, Any]:
    return {"index": str(PRICE), "used": [o.evidence() for o in observations], "rejected": [], "stale": []}


def honest() -> list[Observation]:
    ts = BATCH.as_of * 1000
    return [
        Observation(SYMBOL, "venue-a", PRICE, ts),
        Observation(SYMBOL, "venue-b", PRICE, ts),
        signed("signing-feed", PRICE, ts, SOURCE_KEY),
    ]


def expect(ev: dict[str, Any], *words: str) -> None:
    with pytest.raises(Discrepancy) as caught:
        check_marks(BATCH, {SYMBOL: ev}, CTX, IndexRule(), KEYS)
    assert (caught.value.check, caught.value.sequence) == ("price-signature", 7), str(caught.value)
    for w in words:
        assert w in str(caught.value), str(caught.value)


def test_signed_observations_of_the_known_key_pass() -> None:
    check_marks(BATCH, {SYMBOL: evidence(*honest())}, CTX, IndexRule(), KEYS)
    assert index_of(evidence(*honest()), IndexRule(), SYMBOL, KEYS) == PRICE


def test_an_unsigned_observation_of_a_signing_source_is_refused() -> None:
    a, b, feed = honest()
    expect(evidence(a, b, Observation(SYMBOL, feed.source, feed.price, feed.ts_ms)), "signing-feed", "unsigned")


def test_an_observation_signed_by_another_key_is_refused() -> None:
    a, b, feed = honest()
    expect(
        evidence(a, b, signed(feed.source, feed.price, feed.ts_ms, OTHER_KEY)), f"signed by {OTHER_KEY.address.lower()}"
    )


@pytest.mark.parametrize("field", ["price", "ts_ms", "source"])
def test_an_observation_altered_after_signing_is_refused(field: str) -> None:
    """The operator edits a signed observation (its signature kept): the signature no longer recovers to the
    signer it names. Checked even for a source the verifier has no key for."""
    a, b, feed = honest()
    row: dict[str, Any] = dict(feed.evidence())
    row[field] = {"price": str(PRICE + 10**6), "ts_ms": feed.ts_ms + 1, "source": "venue-c"}[field]
    ev = evidence(a, b)
    ev["used"].append(row)
    with pytest.raises(Discrepancy) as caught:
        check_marks(BATCH, {SYMBOL: ev}, CTX, IndexRule(), {})
    assert caught.value.check == "price-signature" and "recovers to" in str(caught.value), str(caught.value)


def test_a_signature_without_its_signer_is_refused() -> None:
    a, b, feed = honest()
    row = feed.evidence()
    row["signer"] = None
    ev = evidence(a, b)
    ev["used"].append(row)
    expect(ev, "go together")


def test_a_malformed_signature_is_refused() -> None:
    a, b, feed = honest()
    row = feed.evidence()
    row["signature"] = "zz"
    ev = evidence(a, b)
    ev["used"].append(row)
    expect(ev, "malformed signature")


def test_a_rejected_or_stale_observation_is_checked_too() -> None:
    a, b, feed = honest()
    forged = signed(feed.source, feed.price, feed.ts_ms, OTHER_KEY)
    ev = evidence(a, b, feed)
    ev["stale"] = [Observation(SYMBOL, "signing-feed", PRICE, 1).evidence()]
    ev["used"] = [o for o in ev["used"] if o["source"] != "signing-feed"]
    expect(ev, "(stale)", "unsigned")
    ev = evidence(a, b)
    ev["rejected"] = [forged.evidence()]
    expect(ev, "(rejected)")


# ---------------------------------------------------------------- sources registered on-chain

ROTATED_KEY = Account.from_key("0x" + "c3" * 32)
ROTATION_S = BATCH.as_of - 100  # the registered source rotated to ROTATED_KEY 100 s before the batch


def registry() -> RegistryState:
    """A registry where `registered-feed` is a price source (a venue entry of its own, no symbols) whose key
    was rotated before the batch; `venue-a` is not registered."""
    windows = (
        KeyWindow(SOURCE_KEY.address, 0, ROTATION_S),
        KeyWindow(ROTATED_KEY.address, ROTATION_S, KEY_OPEN),
    )
    feed = RegisteredVenue("registered-feed", "price-source", SOURCE_KEY.address, 1, windows, {})
    return RegistryState("0x" + "00" * 20, 1, {"registered-feed": feed}, {}, {}, Params(1, 1, 1))


def with_registered(obs: Observation) -> dict[str, Any]:
    a, b, _ = honest()
    return evidence(a, b, obs)


def check(ev: dict[str, Any], given: dict[str, str] | None = None) -> None:
    check_marks(BATCH, {SYMBOL: ev}, CTX, IndexRule(), SourceKeys(given or {}, registry()))


def test_a_registered_source_signed_by_its_key_in_force_passes() -> None:
    ts = BATCH.as_of * 1000
    check(with_registered(signed("registered-feed", PRICE, ts, ROTATED_KEY)))
    # before the rotation, the earlier key was the one in force
    check(with_registered(signed("registered-feed", PRICE, (ROTATION_S - 1) * 1000, SOURCE_KEY)))


def expect_registered(ev: dict[str, Any], *words: str, given: dict[str, str] | None = None) -> None:
    with pytest.raises(Discrepancy) as caught:
        check(ev, given)
    assert (caught.value.check, caught.value.sequence) == ("price-signature", 7), str(caught.value)
    for w in words:
        assert w in str(caught.value), str(caught.value)


def test_a_forged_observation_of_a_registered_source_is_refused() -> None:
    """The operator signs an observation in the registered source's name with a key of its own (and names that
    key as the signer, so the signature itself is valid): the registry's key is another."""
    ts = BATCH.as_of * 1000
    expect_registered(
        with_registered(signed("registered-feed", PRICE, ts, OTHER_KEY)),
        f"signed by {OTHER_KEY.address.lower()}",
        f"the registry's key of the source then is {ROTATED_KEY.address}",
    )
    expect_registered(with_registered(Observation(SYMBOL, "registered-feed", PRICE, ts)), "unsigned")


def test_a_registered_source_signed_with_its_rotated_out_key_is_refused() -> None:
    expect_registered(
        with_registered(signed("registered-feed", PRICE, BATCH.as_of * 1000, SOURCE_KEY)),
        f"signed by {SOURCE_KEY.address.lower()}",
    )


def test_an_observation_dated_before_any_key_window_is_refused() -> None:
    late = replace_windows(registry(), (KeyWindow(ROTATED_KEY.address, ROTATION_S, KEY_OPEN),))
    obs = signed("registered-feed", PRICE, (ROTATION_S - 1) * 1000, ROTATED_KEY)
    with pytest.raises(Discrepancy, match="registered source with no key valid then") as caught:
        check_marks(BATCH, {SYMBOL: with_registered(obs)}, CTX, IndexRule(), SourceKeys({}, late))
    assert caught.value.check == "price-signature"


def test_the_registry_wins_over_a_key_given_for_the_same_source() -> None:
    ts = BATCH.as_of * 1000
    given = {"registered-feed": OTHER_KEY.address}
    check(with_registered(signed("registered-feed", PRICE, ts, ROTATED_KEY)), given)
    expect_registered(with_registered(signed("registered-feed", PRICE, ts, OTHER_KEY)), "registry's key", given=given)


def test_unregistered_sources_fall_back_to_the_given_keys() -> None:
    a, b, feed = honest()
    check(evidence(a, b, feed), KEYS)
    expect_registered(evidence(a, b, signed(feed.source, PRICE, feed.ts_ms, OTHER_KEY)), "the source's key", given=KEYS)


def replace_windows(state: RegistryState, windows: tuple[KeyWindow, ...]) -> RegistryState:
    feed = state.venues["registered-feed"]
    return RegistryState(
        state.address, state.block, {feed.name: dataclasses.replace(feed, keys=windows)}, {}, {}, state.params
    )
