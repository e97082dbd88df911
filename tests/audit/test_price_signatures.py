"""`price-signature`: an observation that carries a signature is checked against the signer it names, and an
observation of a source whose key the verifier knows must be signed by that key (offchain/audit/checks/prices.py).
Real secp256k1 signatures over the marketdata observation's own digest text (EIP-191)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from offchain.audit.checks.prices import check_marks, index_of
from offchain.audit.errors import Discrepancy
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
