"""Price sources registered on-chain (`price-signature`): a source registered in the registry through
governance (a venue entry of its own name, kind `price-source`, no symbols: it settles no fill) must sign its
observations with the registry's key valid at their time. On the first history, a hand-built batch by the
engine's rules publishes evidence with an observation of the registered source: signed by its key it passes;
forged by the operator (signed with its own key, or unsigned) it is caught by name, with no `--price-source-key`
given to the auditor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from offchain.chain.registry import RegistryClient, registry_error_decoder
from offchain.chain.transactions import TxSender
from tests.audit.conftest import History
from tests.audit.rederive_helpers import HandBuilt, settle_hand_built

SOURCE = "registered-oracle"
SOURCE_KEY = "0x" + "5e" * 32
OPERATOR_OWN = "0x" + "6f" * 32


def _register(history: History) -> None:
    d = history.devnet
    governor = TxSender(d.vault.w3, d.spec.operator_key, registry_error_decoder())
    admin = Account.from_key(SOURCE_KEY).address
    RegistryClient(d.vault.w3, d.spec.registry).add_venue(governor, SOURCE, "price-source", admin, SOURCE_KEY)


def _with_source(key: str | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Evidence edit: every symbol's evidence also uses an observation of the registered source at the same
    price and time, signed with `key` (None: unsigned)."""

    def edit(evidence: dict[str, Any]) -> dict[str, Any]:
        for symbol, ev in evidence.items():
            first = ev["used"][0]
            obs = {
                "source": SOURCE,
                "price": first["price"],
                "ts_ms": first["ts_ms"],
                "signature": None,
                "signer": None,
            }
            if key is not None:
                text = f"crossclear-price:{SOURCE}:{symbol}:{first['price']}:{first['ts_ms']}"
                signed = Account.sign_message(encode_defunct(text=text), key)
                obs.update(signature=bytes(signed.signature).hex(), signer=Account.from_key(key).address)
            ev["used"].append(obs)
        return evidence

    return edit


def test_observations_signed_by_the_registered_key_pass(history: History) -> None:
    with history.snapshot():
        _register(history)
        seq, path = settle_hand_built(history, HandBuilt(evidence=_with_source(SOURCE_KEY)))
        assert history.audit(path).batches == seq


def test_a_forged_observation_of_a_registered_source_is_caught(history: History) -> None:
    with history.snapshot():
        _register(history)
        seq, path = settle_hand_built(history, HandBuilt(evidence=_with_source(OPERATOR_OWN)))
        own = Account.from_key(OPERATOR_OWN).address.lower()
        history.expect(path, "price-signature", seq, SOURCE, f"signed by {own}", "the registry's key")


def test_an_unsigned_observation_of_a_registered_source_is_caught(history: History) -> None:
    with history.snapshot():
        _register(history)
        seq, path = settle_hand_built(history, HandBuilt(evidence=_with_source(None)))
        history.expect(path, "price-signature", seq, SOURCE, "unsigned")
