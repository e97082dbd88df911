"""The on-chain registry (contracts/src/Registry.sol): read it whole at a block, and change it as governor.

`RegistryState.read` loads every venue (kind, admin, key windows, symbol map), every instrument (kind,
underlying, terms versions), every member's tier versions and the verifier's parameters at one block, in
a handful of calls, into frozen values with time lookups: the key valid at a fill's time, the terms in
force at a batch's time. The engine, the API and the auditor read trust anchors from here, never from a
published file.

`RegistryClient` sends the governor's changes (on devnet the governor is the deployer; on a real chain
a TimelockController, through which the same calls are scheduled) and signs venues' key-change consents
(`sign_key_change`) for keys it holds (devnet venues, tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier, LogReceipt

from offchain.chain.artifacts import load_artifact
from offchain.chain.errors import ChainError, ErrorDecoder
from offchain.chain.transactions import Sent, TxSender
from offchain.core.eip712 import Domain, typed_digest

KEY_OPEN = 2**64 - 1  # validUntil of a current key
KEY_CHANGE_TYPEHASH = keccak(text="KeyChange(string venue,address newKey,uint64 validFrom,uint256 nonce)")


@dataclass(frozen=True)
class Terms:
    """An instrument's terms (IRegistry.Terms): units, fee, band, funding grid and cap, tick."""

    qty_decimals: int
    fee_bps: int
    price_band_bps: int
    funding_interval_s: int
    funding_cap_e8: int
    tick: int

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.qty_decimals,
            self.fee_bps,
            self.price_band_bps,
            self.funding_interval_s,
            self.funding_cap_e8,
            self.tick,
        )


@dataclass(frozen=True)
class KeyWindow:
    key: str  # checksummed
    valid_from: int  # seconds, inclusive
    valid_until: int  # seconds, exclusive (KEY_OPEN while current)

    def holds(self, ts_s: int) -> bool:
        return self.valid_from <= ts_s < self.valid_until


@dataclass(frozen=True)
class SymbolMapping:
    instrument: str
    since: int  # seconds: the block time it was mapped


@dataclass(frozen=True)
class RegisteredVenue:
    name: str
    kind: str
    admin: str
    nonce: int
    keys: tuple[KeyWindow, ...]
    symbols: Mapping[str, SymbolMapping]

    def key_at(self, ts_s: int) -> str | None:
        for w in reversed(self.keys):
            if w.holds(ts_s):
                return w.key
        return None


@dataclass(frozen=True)
class RegisteredInstrument:
    name: str
    kind: str
    underlying: str
    versions: tuple[tuple[int, Terms], ...]  # (since, terms), in order

    def terms_at(self, ts_s: int) -> Terms | None:
        for since, terms in reversed(self.versions):
            if since <= ts_s:
                return terms
        return None


@dataclass(frozen=True)
class Params:
    fill_max_age_ms: int
    fill_max_ahead_ms: int
    min_cure_s: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.fill_max_age_ms, self.fill_max_ahead_ms, self.min_cure_s)


@dataclass(frozen=True)
class RegistryState:
    address: str
    block: int
    venues: Mapping[str, RegisteredVenue]
    instruments: Mapping[str, RegisteredInstrument]
    tiers: Mapping[str, tuple[tuple[int, str], ...]]  # member address -> (since, tier) versions
    params: Params

    def key_at(self, venue: str, ts_s: int) -> str | None:
        v = self.venues.get(venue)
        return v.key_at(ts_s) if v is not None else None

    def terms_at(self, instrument: str, ts_s: int) -> Terms | None:
        i = self.instruments.get(instrument)
        return i.terms_at(ts_s) if i is not None else None

    def tier_at(self, member: str, ts_s: int) -> str | None:
        for since, tier in reversed(self.tiers.get(str(to_checksum_address(member)), ())):
            if since <= ts_s:
                return tier
        return None

    @classmethod
    def read(cls, w3: Web3, address: str, block: BlockIdentifier = "latest") -> RegistryState:
        """Everything the registry holds at `block`."""
        c = registry_contract(w3, address)
        f = c.functions
        number = int(w3.eth.get_block(block)["number"])
        venues: dict[str, RegisteredVenue] = {}
        for name in f.venueNames().call(block_identifier=number):
            kind, admin, nonce, keys = f.venue(name).call(block_identifier=number)
            syms, instruments, since = f.symbols(name).call(block_identifier=number)
            venues[name] = RegisteredVenue(
                name=name,
                kind=kind,
                admin=str(to_checksum_address(admin)),
                nonce=int(nonce),
                keys=tuple(KeyWindow(str(to_checksum_address(k)), int(a), int(b)) for k, a, b in keys),
                symbols={s: SymbolMapping(i, int(t)) for s, i, t in zip(syms, instruments, since, strict=True)},
            )
        instruments_: dict[str, RegisteredInstrument] = {}
        for name in f.instrumentNames().call(block_identifier=number):
            kind, underlying, versions = f.instrument(name).call(block_identifier=number)
            instruments_[name] = RegisteredInstrument(
                name=name,
                kind=kind,
                underlying=underlying,
                versions=tuple((int(since), Terms(*(int(x) for x in terms))) for terms, since in versions),
            )
        tiers = {
            str(to_checksum_address(m)): tuple(
                (int(since), str(tier)) for tier, since in f.memberTiers(m).call(block_identifier=number)
            )
            for m in f.members().call(block_identifier=number)
        }
        age, ahead, cure = f.params().call(block_identifier=number)
        return cls(
            address=str(to_checksum_address(address)),
            block=number,
            venues=venues,
            instruments=instruments_,
            tiers=tiers,
            params=Params(int(age), int(ahead), int(cure)),
        )


def registry_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact("Registry").abi)


def registry_error_decoder() -> ErrorDecoder:
    return ErrorDecoder(load_artifact("Registry").abi)


def registry_domain(chain_id: int, registry: str) -> Domain:
    """The registry's domain, as `EIP712("crossclear Registry", "1")` in Registry.sol builds it."""
    return Domain("crossclear Registry", "1", chain_id, registry)


def key_change_digest(domain: Domain, venue: str, new_key: str, valid_from: int, nonce: int) -> bytes:
    """What a venue signs to consent to a key change (Registry.keyChangeDigest)."""
    struct = encode(
        ["bytes32", "bytes32", "address", "uint64", "uint256"],
        [KEY_CHANGE_TYPEHASH, keccak(text=venue), to_checksum_address(new_key), valid_from, nonce],
    )
    return typed_digest(domain.separator, keccak(struct))


def sign_key_change(domain: Domain, signer_key: str, venue: str, new_key: str, valid_from: int, nonce: int) -> bytes:
    digest = key_change_digest(domain, venue, new_key, valid_from, nonce)
    return bytes(Account.unsafe_sign_hash(digest, signer_key).signature)


class RegistryClient:
    """The governor's side of the registry. On a real chain the governor is a timelock: schedule the
    same calldata (`contract.encode_abi(...)`) there instead of sending it directly."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = str(to_checksum_address(address))
        self.contract = registry_contract(w3, address)
        self.domain = registry_domain(int(w3.eth.chain_id), self.address)

    def add_instrument(self, governor: TxSender, name: str, kind: str, underlying: str, terms: Terms) -> Sent:
        return governor.send(self.contract.functions.addInstrument(name, kind, underlying, terms.as_tuple()))

    def set_terms(self, governor: TxSender, name: str, terms: Terms) -> Sent:
        return governor.send(self.contract.functions.setTerms(name, terms.as_tuple()))

    def add_venue(self, governor: TxSender, name: str, kind: str, admin: str, venue_key: str) -> Sent:
        """Register a venue; `venue_key` is the venue's private key (it signs its own proof of possession)."""
        key = str(Account.from_key(venue_key).address)
        proof = sign_key_change(self.domain, venue_key, name, key, 0, 0)
        return governor.send(self.contract.functions.addVenue(name, kind, to_checksum_address(admin), key, 0, proof))

    def rotate_venue_key(
        self, governor: TxSender, venue: str, new_key: str, consent_key: str, valid_from: int = 0
    ) -> Sent:
        """Rotate to `new_key` (an address; the zero address ends the current key), with the consent of
        `consent_key` (the venue's current key or its admin)."""
        nonce = int(self.contract.functions.venue(venue).call()[2])
        consent = sign_key_change(self.domain, consent_key, venue, new_key, valid_from, nonce)
        return governor.send(
            self.contract.functions.rotateVenueKey(venue, to_checksum_address(new_key), valid_from, consent)
        )

    def map_symbol(self, governor: TxSender, venue: str, symbol: str, instrument: str) -> Sent:
        return governor.send(self.contract.functions.mapSymbol(venue, symbol, instrument))

    def set_member_tier(self, governor: TxSender, member: str, tier: str) -> Sent:
        return governor.send(self.contract.functions.setMemberTier(to_checksum_address(member), tier))

    def set_params(self, governor: TxSender, params: Params) -> Sent:
        return governor.send(self.contract.functions.setParams(params.as_tuple()))


GOVERNOR_ROLE = keccak(text="GOVERNOR_ROLE")
_PARAMS_SET = keccak(text="ParamsSet((uint32,uint32,uint32))")
_ROLE_GRANTED = keccak(text="RoleGranted(bytes32,address,address)")
_ROLE_REVOKED = keccak(text="RoleRevoked(bytes32,address,address)")


class RegistryNotFoundError(ChainError):
    """No registry, or more than one, is governed by the vault's governor: name one explicitly."""


LOG_CHUNK_BLOCKS = 50_000  # eth_getLogs range per request (public RPCs cap the range)


def _logs(w3: Web3, query: dict[str, Any], from_block: int, to_block: int) -> list[LogReceipt]:
    out: list[LogReceipt] = []
    for start in range(from_block, to_block + 1, LOG_CHUNK_BLOCKS):
        end = min(start + LOG_CHUNK_BLOCKS - 1, to_block)
        out.extend(w3.eth.get_logs({**query, "fromBlock": start, "toBlock": end}))  # type: ignore[typeddict-item]
    return out


def governors(w3: Web3, contract: str, from_block: int, to_block: int) -> frozenset[str]:
    """The accounts holding GOVERNOR_ROLE on `contract` at `to_block`, from its RoleGranted/RoleRevoked logs."""
    topics = [["0x" + _ROLE_GRANTED.hex(), "0x" + _ROLE_REVOKED.hex()], "0x" + GOVERNOR_ROLE.hex()]
    logs = _logs(w3, {"address": to_checksum_address(contract), "topics": topics}, from_block, to_block)
    held: set[str] = set()
    for log in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"])):
        account = str(to_checksum_address(bytes(log["topics"][2])[-20:]))
        if bytes(log["topics"][0]) == _ROLE_GRANTED:
            held.add(account)
        else:
            held.discard(account)
    return frozenset(held)


def discover_registry(w3: Web3, vault: str, from_block: int, to_block: int) -> str:
    """The registry of `vault`, found from the chain: among the contracts that emitted the registry's
    `ParamsSet` (its constructor does), the one governed by exactly the vault's governors. None or several
    is an error (fail closed: a look-alike deployed under the same governor makes the choice ambiguous,
    never silently accepted)."""
    vault_governors = governors(w3, vault, from_block, to_block)
    if not vault_governors:
        raise RegistryNotFoundError(f"the vault {vault} has no governor in blocks {from_block}..{to_block}")
    logs = _logs(w3, {"topics": ["0x" + _PARAMS_SET.hex()]}, from_block, to_block)
    candidates = sorted({str(to_checksum_address(log["address"])) for log in logs})
    matches = [c for c in candidates if governors(w3, c, from_block, to_block) == vault_governors]
    if len(matches) != 1:
        raise RegistryNotFoundError(
            f"{len(matches)} registries are governed by the vault's governors {sorted(vault_governors)} "
            f"(of {len(candidates)} candidates): pass the registry address explicitly"
        )
    return matches[0]
