"""Keys from encrypted keystores (the Ethereum JSON keystore, scrypt KDF, as `eth_account.Account.encrypt`
writes it); a plain private key only on a devnet chain (id 31337), where Anvil's well-known keys sign.

A key is named in settings by a `KeySource`: a keystore file plus where its password comes from (an
environment variable or a file, e.g. one a secrets manager mounts). Passwords never sit in settings files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from offchain.errors import ConfigError

DEVNET_CHAIN_ID = 31337
DEFAULT_PASSWORD_ENV = "CROSSCLEAR_KEYSTORE_PASSWORD"


class KeyLoadError(ConfigError):
    """A key could not be loaded, or a plain key was offered on a chain that is not a devnet."""


class KeySource(BaseModel):
    """Where one key comes from: `keystore` (+ `password_env` or `password_file`), or `plain_key` (devnet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keystore: Path | None = None
    password_env: str = DEFAULT_PASSWORD_ENV
    password_file: Path | None = None
    plain_key: SecretStr | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeySource:
        if (self.keystore is None) == (self.plain_key is None):
            raise ValueError("a key needs exactly one of `keystore` or `plain_key`")
        return self

    def password(self) -> str:
        if self.password_file is not None:
            try:
                return self.password_file.read_text().rstrip("\n")
            except OSError as exc:
                raise KeyLoadError(f"cannot read keystore password file {self.password_file}: {exc}") from exc
        value = os.environ.get(self.password_env)
        if value is None:
            raise KeyLoadError(f"keystore {self.keystore}: set its password in ${self.password_env}")
        return value


def load_account(source: KeySource, chain_id: int) -> LocalAccount:
    """The account `source` names. A plain key is refused unless `chain_id` is the devnet's."""
    if source.plain_key is not None:
        if chain_id != DEVNET_CHAIN_ID:
            raise KeyLoadError(
                f"plain private keys are for the devnet only (chain id {DEVNET_CHAIN_ID}), not chain {chain_id}: "
                "use an encrypted keystore"
            )
        account: LocalAccount = Account.from_key(source.plain_key.get_secret_value())
        return account
    assert source.keystore is not None  # the validator guarantees one source
    return decrypt_keystore(source.keystore, source.password())


def decrypt_keystore(path: Path, password: str) -> LocalAccount:
    try:
        keyfile = json.loads(path.read_text())
        key = Account.decrypt(keyfile, password)
    except (OSError, ValueError) as exc:  # missing file, bad JSON, wrong password (eth-account: ValueError)
        raise KeyLoadError(f"cannot open keystore {path}: {exc}") from exc
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(path: Path, key: str | bytes, password: str, kdf: Literal["scrypt", "pbkdf2"] = "scrypt") -> str:
    """Encrypt `key` into a new keystore file at `path` (never overwritten); returns the address."""
    if not password:
        raise KeyLoadError("refusing to write a keystore with an empty password")
    account = Account.from_key(key)
    body = Account.encrypt(account.key, password, kdf=kdf)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x") as out:  # "x": an existing keystore is never replaced by accident
            json.dump(body, out)
    except FileExistsError as exc:
        raise KeyLoadError(f"{path} exists: a keystore is never overwritten") from exc
    os.chmod(path, 0o600)
    return str(account.address)
