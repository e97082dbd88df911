"""Signed API requests: one EIP-712 envelope for every request that changes something.

    ApiRequest(address signer,string action,bytes32 payloadHash,uint256 nonce,uint64 expiry)

under the domain ("crossclear API", "1", chainId, verifyingContract = the vault). `action` is the HTTP
method and the concrete path ("POST /v1/venues/dex-a/approve"), so a signature is bound to one endpoint
and its path parameters; `payloadHash` is keccak256 of the request's `payload` in canonical JSON
(UTF-8, keys sorted, no whitespace, integers and strings only: no floats). The nonce is any uint256 the
signer has not used before (spent in the same database transaction as the request's effect), `expiry`
unix seconds, at most `max_request_ttl_s` ahead. An EOA signs with ECDSA (65 bytes, low s); a contract
account (a DAO's Safe) is accepted when its EIP-1271 `isValidSignature(digest, signature)` returns the
magic value on-chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from offchain.api.errors import ApiError, conflict, unauthorized
from offchain.core.eip712 import Domain, typed_digest
from offchain.core.fills import InvalidSignature, recover_signer_bytes
from offchain.ledger import sessions_store
from offchain.ledger.handles import Connection

API_REQUEST_TYPE = "ApiRequest(address signer,string action,bytes32 payloadHash,uint256 nonce,uint64 expiry)"
API_REQUEST_TYPEHASH = keccak(text=API_REQUEST_TYPE)
EIP1271_MAGIC = bytes.fromhex("1626ba7e")


def api_domain(chain_id: int, vault: str) -> Domain:
    return Domain("crossclear API", "1", chain_id, vault)


def canonical_json(payload: Any) -> bytes:
    """The bytes `payloadHash` is computed over. Raises ValueError for fractional numbers or unencodable text.

    A number with an integral value is written as that integer whatever its JSON spelling (`1.0` and `1`
    are the same JSON number, and RFC 8785's canonical form writes both as `1`; JavaScript's
    `JSON.stringify` does too), so the hash does not depend on how a client's JSON library spells it."""
    try:
        return json.dumps(_integral_numbers(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError as exc:
        raise ValueError("payload text is not valid UTF-8") from exc


_JSON_SAFE_INT = 2**53 - 1


def _integral_numbers(value: Any) -> Any:
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > _JSON_SAFE_INT:
            raise ValueError("payload numbers must be integers (send decimals as strings)")
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_numbers(v) for v in value]
    return value


def payload_hash(payload: Any) -> bytes:
    return keccak(canonical_json(payload))


@dataclass(frozen=True)
class Envelope:
    signer: str
    action: str
    payload_hash: bytes
    nonce: int
    expiry: int

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "address", "bytes32", "bytes32", "uint256", "uint64"],
                [
                    API_REQUEST_TYPEHASH,
                    to_checksum_address(self.signer),
                    keccak(text=self.action),
                    self.payload_hash,
                    self.nonce,
                    self.expiry,
                ],
            )
        )

    def digest(self, domain: Domain) -> bytes:
        return typed_digest(domain.separator, self.struct_hash())


def typed_data(domain: Domain, envelope: Envelope) -> dict[str, object]:
    """The envelope in eth_signTypedData_v4 form (what a wallet shows and signs)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "ApiRequest": [
                {"name": "signer", "type": "address"},
                {"name": "action", "type": "string"},
                {"name": "payloadHash", "type": "bytes32"},
                {"name": "nonce", "type": "uint256"},
                {"name": "expiry", "type": "uint64"},
            ],
        },
        "primaryType": "ApiRequest",
        "domain": domain.as_json(),
        "message": {
            "signer": to_checksum_address(envelope.signer),
            "action": envelope.action,
            "payloadHash": "0x" + envelope.payload_hash.hex(),
            "nonce": envelope.nonce,
            "expiry": envelope.expiry,
        },
    }


SUB_ACCOUNT_CONSENT_TYPE = "SubAccountConsent(uint32 parent,address subAccount,string label,uint64 expiry)"
SUB_ACCOUNT_CONSENT_TYPEHASH = keccak(text=SUB_ACCOUNT_CONSENT_TYPE)


@dataclass(frozen=True)
class SubAccountConsent:
    """The sub-account key's own consent to be opened under `parent` (signed under the API domain): without
    it a member could claim any address as its sub-account and block the real owner's own application."""

    parent: int
    sub_account: str
    label: str
    expiry: int

    def digest(self, domain: Domain) -> bytes:
        struct = keccak(
            encode(
                ["bytes32", "uint32", "address", "bytes32", "uint64"],
                [
                    SUB_ACCOUNT_CONSENT_TYPEHASH,
                    self.parent,
                    to_checksum_address(self.sub_account),
                    keccak(text=self.label),
                    self.expiry,
                ],
            )
        )
        return typed_digest(domain.separator, struct)

    def typed_data(self, domain: Domain) -> dict[str, object]:
        return {
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS,
                "SubAccountConsent": [
                    {"name": "parent", "type": "uint32"},
                    {"name": "subAccount", "type": "address"},
                    {"name": "label", "type": "string"},
                    {"name": "expiry", "type": "uint64"},
                ],
            },
            "primaryType": "SubAccountConsent",
            "domain": domain.as_json(),
            "message": {
                "parent": self.parent,
                "subAccount": to_checksum_address(self.sub_account),
                "label": self.label,
                "expiry": self.expiry,
            },
        }


_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class ContractSignatures(Protocol):
    """EIP-1271 on-chain: does `address` have code, and does it accept `signature` over `digest`."""

    def has_code(self, address: str) -> bool: ...

    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool: ...


def ecdsa_signed(digest: bytes, signer: str, signature: bytes) -> bool:
    """Whether `signature` is `signer`'s own 65-byte ECDSA signature over `digest` (CPU only, no I/O)."""
    if len(signature) != 65:
        return False
    try:
        return recover_signer_bytes(digest, signature) == bytes.fromhex(signer[2:])
    except InvalidSignature:
        return False


def verify_signature(digest: bytes, signer: str, signature: bytes, contracts: ContractSignatures | None) -> None:
    """Raise 401 `bad_signature` unless `signer` signed `digest` (ECDSA for an EOA, EIP-1271 for a contract).
    The EIP-1271 path calls the chain: from async code run it in a worker thread."""
    if ecdsa_signed(digest, signer, signature):
        return
    if contracts is not None and contracts.has_code(signer):
        if contracts.is_valid_signature(signer, digest, signature):
            return
        raise unauthorized("bad_signature", "the contract account's isValidSignature refused the signature")
    raise unauthorized("bad_signature", "the signature does not recover to the signer")


@dataclass(frozen=True)
class Verified:
    """A request whose signature checked out; its nonce is spent by `spend_nonce` in the effect's transaction."""

    signer: str  # checksummed
    action: str
    nonce: int
    expiry: int


def check_times(expiry: int, now_s: int, max_ttl_s: int) -> None:
    if expiry <= now_s:
        raise unauthorized("request_expired", f"expiry {expiry} is not after now ({now_s})")
    if expiry > now_s + max_ttl_s:
        raise unauthorized("expiry_too_far", f"expiry may be at most {max_ttl_s} s ahead")


def spend_nonce(conn: Connection, verified: Verified, now_ms: int) -> None:
    """Record the nonce as used, inside the caller's transaction: a replay is refused (409
    `nonce_reused`), and if the effect fails the nonce stays unspent."""
    # One statement: two identical requests racing each other cannot both spend the nonce.
    if not sessions_store.record_nonce(
        conn, verified.signer, verified.nonce, verified.action, verified.expiry * 1000, now_ms
    ):
        raise conflict("nonce_reused", f"nonce {verified.nonce} was already used by {verified.signer}")


def prune_nonces(conn: Connection, before_ms: int) -> int:
    """Delete spent nonces whose request expired before `before_ms`; return how many.

    Safe because an expired request is refused (401 `request_expired`) before its nonce is looked up:
    once `expiry` has passed, the row no longer protects anything. Callers pass `now - grace` so
    that API processes whose clocks differ a little never prune a nonce another still accepts."""
    return sessions_store.prune_nonces(conn, before_ms)


def sign_request(
    key: str | bytes,
    domain: Domain,
    method: str,
    path: str,
    payload: Any,
    nonce: int,
    expiry: int,
    signer: str | None = None,
) -> dict[str, Any]:
    """A client's side: the JSON body `{"payload", "auth"}` for a signed request.

    `signer` defaults to the key's address; pass a contract account's address to sign for it with an
    owner key whose ECDSA signature the contract accepts through EIP-1271.
    """
    account = Account.from_key(key)
    return sign_request_with(
        lambda digest: bytes(Account.unsafe_sign_hash(digest, account.key).signature),
        signer or account.address,
        domain,
        method,
        path,
        payload,
        nonce,
        expiry,
    )


def sign_request_with(
    sign: Callable[[bytes], bytes],
    signer: str,
    domain: Domain,
    method: str,
    path: str,
    payload: Any,
    nonce: int,
    expiry: int,
) -> dict[str, Any]:
    """Like `sign_request`, with any signing function over the EIP-712 digest: e.g. a Safe's owners'
    EIP-1271 signature (`offchain.chain.safe.SafeMultisig.sign_1271`) with `signer` = the Safe."""
    who = to_checksum_address(signer)
    envelope = Envelope(who, f"{method.upper()} {path}", payload_hash(payload), nonce, expiry)
    sig = sign(envelope.digest(domain))
    return {
        "payload": payload,
        "auth": {"signer": who, "nonce": str(nonce), "expiry": expiry, "signature": "0x" + sig.hex()},
    }


__all__ = [
    "API_REQUEST_TYPE",
    "SUB_ACCOUNT_CONSENT_TYPE",
    "ApiError",
    "ContractSignatures",
    "Envelope",
    "SubAccountConsent",
    "Verified",
    "api_domain",
    "canonical_json",
    "check_times",
    "ecdsa_signed",
    "payload_hash",
    "prune_nonces",
    "sign_request",
    "sign_request_with",
    "spend_nonce",
    "typed_data",
    "verify_signature",
]
