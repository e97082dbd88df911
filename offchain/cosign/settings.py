"""A co-signer's settings (`crossclear cosign --config FILE`, TOML or JSON; environment
`CROSSCLEAR_COSIGN_<FIELD>` wins): its own RPC endpoint, the vault, its one risk-signer key (an encrypted
keystore; a plain key on the devnet chain only), where it listens, and its copy of the published history."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from offchain.config.keys import KeySource
from offchain.config.settings import FileSettings


class CosignSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_COSIGN_")

    rpc_url: str
    rpc_timeout_s: float = Field(default=30.0, gt=0)
    vault: str
    registry: str | None = None  # None: the one registry governed by the vault's governors
    key: KeySource  # this co-signer's risk-signer key (one of the vault's registered signers)
    host: str = "127.0.0.1"
    port: int = Field(default=8610, ge=0, le=65_535)
    history: Path | None = None  # the published fills file of the batches settled before it started
    # where it reads the published lines of settled batches it lacks (it missed them: down, or not asked),
    # to catch up by itself before it signs: published fills files or http(s) URLs serving one (its
    # `history` is read again first). Each line is replayed against the chain with every check.
    published: list[str] = Field(default_factory=list)
    registry_ttl_s: float = Field(default=30.0, gt=0)  # re-read the registry at most this often
    # price source -> the address it signs observations with: each of its observations must be signed by it
    price_source_keys: dict[str, str] = Field(default_factory=dict)
