"""Risk signers: the keys that co-sign settlement batches.

Production keys live in encrypted keystores (eth-account's scrypt JSON); plain hex keys are accepted
only for a devnet (chain id 31337), where Anvil's well-known accounts sign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from offchain.core.batch import Batch
from offchain.core.eip712 import Domain

DEVNET_CHAIN_ID = 31337


class SignerKeyError(Exception):
    """A signer key could not be loaded, or is not allowed on this chain."""


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
        try:
            keyfile = json.loads(path.read_text())
            key = Account.decrypt(keyfile, password)
        except (OSError, ValueError) as exc:
            raise SignerKeyError(f"cannot open keystore {path}: {exc}") from exc
        return cls(Account.from_key(key))

    @classmethod
    def from_devnet_key(cls, key: str, chain_id: int) -> RiskSigner:
        if chain_id != DEVNET_CHAIN_ID:
            raise SignerKeyError(
                f"plain private keys are for the devnet only (chain id {DEVNET_CHAIN_ID}), not chain {chain_id}: "
                "use an encrypted keystore"
            )
        return cls(Account.from_key(key))

    def sign_digest(self, digest: bytes) -> SignerSignature:
        signed = Account.unsafe_sign_hash(digest, self._account.key)
        return SignerSignature(self.address, bytes(signed.signature))


def sign_batch(batch: Batch, domain: Domain, signers: list[RiskSigner]) -> list[SignerSignature]:
    """All signers' signatures over the batch digest, sorted by signer address as the vault requires."""
    digest = batch.digest(domain)
    sigs = [s.sign_digest(digest) for s in signers]
    return sorted(sigs, key=lambda s: int(s.signer, 16))
