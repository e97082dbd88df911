"""API settings: a plain pydantic model, read from `CROSSCLEAR_API_*` environment variables or built by
`crossclear serve` from a devnet file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from offchain.ledger.db import DEFAULT_URL

ENV_PREFIX = "CROSSCLEAR_API_"


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: str = DEFAULT_URL
    chain_id: int = Field(default=31337, ge=1)
    vault: str = "0x" + "00" * 20  # verifyingContract of both the API and the fills domains
    rpc_url: str | None = None  # without it: no withdrawals, no EIP-1271, default fund from the ledger
    relayer_key: SecretStr | None = None  # pays gas to relay members' signed withdrawal requests
    operator_address: str = "0x" + "00" * 20  # the only signer allowed to approve venues and members
    # HMAC key of session tokens. Every API process behind one load balancer needs the same value;
    # the default (random per process) suits a single process.
    session_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(32)))
    session_ttl_s: int = Field(default=3600, ge=60, le=86_400)
    max_request_ttl_s: int = Field(default=3600, ge=10, le=86_400)  # how far ahead `expiry` may lie
    # Token buckets per key: `rate_per_s` refill, `burst` capacity. Fills count one token each.
    rate_per_s: float = Field(default=50.0, gt=0)
    burst: int = Field(default=200, ge=1)
    fill_rate_per_s: float = Field(default=20_000.0, gt=0)
    fill_burst: int = Field(default=40_000, ge=1)
    # Spent nonces are kept until their request's expiry (+ grace for clock skew between processes),
    # then pruned lazily by the next signed request, at most once per interval.
    nonce_prune_interval_s: int = Field(default=300, ge=0, le=86_400)
    nonce_prune_grace_s: int = Field(default=300, ge=0, le=86_400)
    max_page: int = Field(default=500, ge=1, le=10_000)
    max_bulk: int = Field(default=1_000, ge=1, le=10_000)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
    ) -> ApiSettings:
        """Fields from `CROSSCLEAR_API_<FIELD>` (upper case), then `overrides` on top."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.model_validate(values)
