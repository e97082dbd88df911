"""API settings: a plain pydantic model, read from `CROSSCLEAR_API_*` environment variables or built by
`crossclear serve` from a devnet file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from offchain.ledger.db import DEFAULT_URL

ENV_PREFIX = "CROSSCLEAR_API_"


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: str = DEFAULT_URL
    chain_id: int = Field(default=31337, ge=1)
    vault: str = "0x" + "00" * 20  # verifyingContract of both the API and the fills domains
    rpc_url: str | None = None  # without it: no withdrawals, no EIP-1271, default fund from the ledger
    # Pays gas to relay members' signed withdrawal requests. A key of its own: never the key the engine
    # settles with (two senders on one account race for nonces); see `crossclear serve --devnet`.
    relayer_key: SecretStr | None = None
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
    # Checked before any parsing (offchain/api/bodyguard.py): 413 `payload_too_large`, 400 `too_deep`.
    # A bulk of 1,000 fills is about 0.5 MB; raise max_body_bytes with max_bulk.
    # Push: how often a WebSocket stream and the webhook dispatcher look for new events.
    stream_poll_ms: int = Field(default=250, ge=10, le=60_000)
    webhook_interval_ms: int = Field(default=500, ge=10, le=60_000)
    # Processes recovering the signers of big bulks in parallel (None: one per core). Off by default in
    # the API: in a process whose worker threads all hold the GIL, the pool's result hand-off starves
    # (measured: API bulk ingest 835 fills/s with 2 workers, 2,723 without, on 2 loaded cores). Scale
    # the API by processes instead; the pool pays in a single-threaded ingester on idle cores.
    ingest_workers: int | None = Field(default=0, ge=0, le=256)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_json_depth: int = Field(default=32, ge=4, le=256)
    # Charged per source address before any authentication work (signature recovery, session lookup,
    # EIP-1271 calls); the per-identity buckets above are charged only once the identity is proven.
    ip_rate_per_s: float = Field(default=500.0, gt=0)
    ip_burst: int = Field(default=1_000, ge=1)
    # The chain behind the API (EIP-1271, withdrawals, balances): each RPC call times out after
    # `chain_timeout_s`, at most `chain_max_concurrent` run at once (others wait `chain_queue_s`, then
    # 424), and after `breaker_failures` transport failures in a row the breaker opens: chain calls fail
    # at once with 424 `chain_unavailable` for `breaker_open_s`, then one trial call may close it.
    chain_timeout_s: float = Field(default=3.0, gt=0, le=60)
    chain_max_concurrent: int = Field(default=8, ge=1, le=256)
    chain_queue_s: float = Field(default=0.5, ge=0, le=30)
    breaker_failures: int = Field(default=3, ge=1, le=100)
    breaker_open_s: float = Field(default=10.0, gt=0, le=3_600)

    @model_validator(mode="after")
    def _relayer_of_its_own(self) -> ApiSettings:
        if self.relayer_key is not None:
            from eth_account import Account

            relayer = Account.from_key(self.relayer_key.get_secret_value()).address
            if relayer.lower() == self.operator_address.lower():
                raise ValueError("relayer_key must be a key of its own, not the operator's (they would share nonces)")
        return self

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
