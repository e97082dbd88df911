"""Risk signers: the keys that co-sign settlement batches.

Production keys live in encrypted keystores (eth-account's scrypt JSON); plain hex keys are accepted
only for a devnet (chain id 31337), where Anvil's well-known accounts sign. Both rules live in
offchain/config/keys.py, which the settings' `KeySource`s go through too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import SecretStr

from offchain.config.keys import DEVNET_CHAIN_ID, KeyLoadError, KeySource, decrypt_keystore, load_account
from offchain.core.batch import Batch
from offchain.core.eip712 import Domain
from offchain.errors import CrossclearError

__all__ = ["DEVNET_CHAIN_ID", "RiskSigner", "SignaturesRefusedError", "SignerKeyError", "SignerSignature", "sign_batch"]

SignerKeyError = KeyLoadError  # a signer key could not be loaded, or is not allowed on this chain


class SignaturesRefusedError(CrossclearError):
    """Fewer risk signers than the threshold signed a batch (co-signers refused it or were unreachable)."""


@dataclass(frozen=True)
class SignerSignature:
    """One risk signer's signature, in the form `Vault.settle` takes."""

    signer: str
    signature: bytes

    def as_call_args(self) -> tuple[str, bytes]:
        return (self.signer, self.signature)


class RiskSigner:
    """Signs batch digests with one key."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> str:
        return str(self._account.address)

    @classmethod
    def from_keystore(cls, path: Path, password: str) -> RiskSigner:
        return cls(decrypt_keystore(path, password))

    @classmethod
    def from_devnet_key(cls, key: str, chain_id: int) -> RiskSigner:
        return cls(load_account(KeySource(plain_key=SecretStr(key)), chain_id))

    def sign_digest(self, digest: bytes) -> SignerSignature:
        signed = Account.unsafe_sign_hash(digest, self._account.key)
        return SignerSignature(self.address, bytes(signed.signature))


def sign_batch(batch: Batch, domain: Domain, signers: list[RiskSigner]) -> list[SignerSignature]:
    """All signers' signatures over the batch digest, sorted by signer address as the vault requires."""
    digest = batch.digest(domain)
    sigs = [s.sign_digest(digest) for s in signers]
    return sorted(sigs, key=lambda s: int(s.signer, 16))
