"""offchain/chain/registry.py against the deployed contract on a real Anvil: the Python key-change digest is
the contract's, the reader's time lookups agree with the contract's own views across rotations and term
changes, and refusals surface as the contract's named errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.types import RPCEndpoint

from offchain.chain.anvil import ANVIL_KEYS, Anvil
from offchain.chain.deploy import deploy_registry
from offchain.chain.errors import RevertedError
from offchain.chain.registry import (
    KEY_OPEN,
    Params,
    RegistryClient,
    RegistryState,
    Terms,
    key_change_digest,
    registry_error_decoder,
)
from offchain.chain.transactions import TxSender

TERMS = Terms(qty_decimals=8, fee_bps=1, price_band_bps=500, funding_interval_s=3600, funding_cap_e8=750_000, tick=1)


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Web3, TxSender, RegistryClient]]:
    with Anvil() as anvil:
        w3 = anvil.web3()
        governor = TxSender(w3, ANVIL_KEYS[0], registry_error_decoder())
        reg = deploy_registry(governor, governor.address, Params(600_000, 5_000, 4))
        reg.add_instrument(governor, "BTC-USD-PERP", "perp", "BTC", TERMS)
        yield w3, governor, reg


def _advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


@settings(max_examples=20, deadline=None)
@given(
    venue=st.text(min_size=1, max_size=64),
    valid_from=st.integers(0, 2**64 - 1),
    nonce=st.integers(0, 2**256 - 1),
)
def test_key_change_digest_matches_the_contract(
    chain: tuple[Web3, TxSender, RegistryClient], venue: str, valid_from: int, nonce: int
) -> None:
    _w3, _governor, reg = chain
    key = Account.create().address
    ours = key_change_digest(reg.domain, venue, key, valid_from, nonce)
    assert ours == bytes(reg.contract.functions.keyChangeDigest(venue, key, valid_from, nonce).call())


def test_reader_follows_rotations_and_term_versions(chain: tuple[Web3, TxSender, RegistryClient]) -> None:
    w3, governor, reg = chain
    first, second = Account.create(), Account.create()
    reg.add_venue(governor, "cex", "cex", governor.address, "0x" + bytes(first.key).hex())
    reg.map_symbol(governor, "cex", "BTCUSDT", "BTC-USD-PERP")
    reg.set_member_tier(governor, second.address, "tier2")
    t0 = int(w3.eth.get_block("latest")["timestamp"])
    _advance(w3, 100)
    reg.rotate_venue_key(governor, "cex", second.address, "0x" + bytes(first.key).hex())
    t1 = int(w3.eth.get_block("latest")["timestamp"])
    reg.set_terms(governor, "BTC-USD-PERP", Terms(6, 3, 500, 3600, 750_000, 1))
    state = RegistryState.read(w3, reg.address)
    f = reg.contract.functions
    for ts in (t0 - 1000, t0, t1 - 1, t1, t1 + 10**6):
        want = f.keyAt("cex", ts).call()
        got = state.key_at("cex", ts)
        assert (got or "0x0000000000000000000000000000000000000000") == want, ts
    assert state.key_at("cex", t0) == first.address and state.key_at("cex", t1) == second.address
    cex = state.venues["cex"]
    assert [w.valid_until for w in cex.keys] == [t1, KEY_OPEN] and cex.nonce == 2
    assert cex.symbols["BTCUSDT"].instrument == "BTC-USD-PERP"
    now = int(w3.eth.get_block("latest")["timestamp"])
    assert state.terms_at("BTC-USD-PERP", t0) == TERMS
    assert state.terms_at("BTC-USD-PERP", now) == Terms(6, 3, 500, 3600, 750_000, 1)
    assert Terms(*f.termsAt("BTC-USD-PERP", now).call()) == Terms(6, 3, 500, 3600, 750_000, 1)
    assert state.tier_at(second.address, now) == "tier2" and state.tier_at(second.address, t0 - 1000) is None
    assert state.params == Params(600_000, 5_000, 4)


def test_refusals_are_named(chain: tuple[Web3, TxSender, RegistryClient]) -> None:
    w3, governor, reg = chain
    stranger = Account.create()
    reg.add_venue(governor, "dex", "dex", governor.address, "0x" + bytes(stranger.key).hex())
    _advance(w3, 10)
    with pytest.raises(RevertedError) as caught:  # the operator rotates the venue's key with its own consent
        reg.rotate_venue_key(governor, "dex", governor.address, ANVIL_KEYS[5])
    assert caught.value.error == "VenueSignatureInvalid"
    with pytest.raises(RevertedError) as caught:  # a window starting before the venue's current one
        reg.rotate_venue_key(governor, "dex", stranger.address, "0x" + bytes(stranger.key).hex(), valid_from=1)
    assert caught.value.error == "KeyBackdated"
    with pytest.raises(RevertedError) as caught:
        reg.map_symbol(governor, "dex", "X", "NOPE")
    assert caught.value.error == "UnknownInstrument"
    outsider = TxSender(governor.w3, ANVIL_KEYS[6], registry_error_decoder())
    with pytest.raises(RevertedError) as caught:
        reg.set_member_tier(outsider, stranger.address, "tier1")
    assert caught.value.error == "AccessControlUnauthorizedAccount"
