"""Safe 1.4.1 multisigs with web3.py, from the compiled artefacts of the npm package
`@safe-global/safe-contracts` (contracts/node_modules), and their owners' EIP-1271 signatures.

    infra = SafeInfra.deploy(deployer)              # singleton, proxy factory, fallback handler: once per chain
    safe = infra.create_safe(deployer, owner_keys, threshold=2)
    signature = safe.sign_1271(digest)              # what safe.isValidSignature(digest, signature) accepts

The setup mirrors contracts/test/integration/SafeHelpers.sol (whose forge test checks the hashing against
the handler): `setup(owners, threshold, 0, "", CompatibilityFallbackHandler, 0, 0, 0)` through
`SafeProxyFactory.createProxyWithNonce`. For `isValidSignature(hash, sig)` the handler wraps `hash` as
`SafeMessage(bytes message)` with `message = abi.encode(hash)` under the Safe's own EIP-712 domain
`EIP712Domain(uint256 chainId,address verifyingContract)`; owners sign that hash with ECDSA and the
65-byte signatures are concatenated in ascending owner-address order (Safe's checkNSignatures).
Fewer owners than the threshold: the Safe reverts (GS020) and the caller sees an invalid signature.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract
from web3.logs import DISCARD

from offchain.chain.artifacts import CONTRACTS_DIR
from offchain.chain.errors import ChainError
from offchain.chain.transactions import TxSender

SAFE_ARTIFACTS = (
    CONTRACTS_DIR / "node_modules" / "@safe-global" / "safe-contracts" / "build" / "artifacts" / "contracts"
)
SAFE = "Safe.sol/Safe.json"
PROXY_FACTORY = "proxies/SafeProxyFactory.sol/SafeProxyFactory.json"
FALLBACK_HANDLER = "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"

SAFE_MSG_TYPEHASH = keccak(text="SafeMessage(bytes message)")
SAFE_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class SafeError(ChainError):
    """The Safe artefacts are missing, or a Safe could not be deployed or created."""


@cache
def safe_artifact(relative: str) -> dict[str, Any]:
    """ABI and bytecode of one Safe artefact (`SAFE`, `PROXY_FACTORY`, `FALLBACK_HANDLER`)."""
    path = SAFE_ARTIFACTS / relative
    if not path.is_file():
        raise SafeError(f"Safe artefact not found: {path} (run ./scripts/setup.sh: it installs the npm package)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _deploy(sender: TxSender, relative: str) -> str:
    a = safe_artifact(relative)
    sent = sender.send(sender.w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"]).constructor())
    address = sent.receipt["contractAddress"]
    if address is None:
        raise SafeError(f"deploying {relative} returned no address")
    return str(address)


def safe_message_hash(chain_id: int, safe: str, digest: bytes) -> bytes:
    """The hash the owners sign so that `safe.isValidSignature(digest, ...)` accepts
    (CompatibilityFallbackHandler.getMessageHashForSafe(safe, abi.encode(digest)))."""
    domain = keccak(encode(["bytes32", "uint256", "address"], [SAFE_DOMAIN_TYPEHASH, chain_id, safe]))
    struct = keccak(encode(["bytes32", "bytes32"], [SAFE_MSG_TYPEHASH, keccak(encode(["bytes32"], [digest]))]))
    return keccak(b"\x19\x01" + domain + struct)


def owner_signatures(keys: Sequence[str | bytes], hash_: bytes) -> bytes:
    """Concatenated 65-byte ECDSA signatures (r ‖ s ‖ v) over `hash_`, by owner address ascending."""
    ordered = sorted(keys, key=lambda k: int(Account.from_key(k).address, 16))
    out = b""
    for k in ordered:
        s = Account.unsafe_sign_hash(hash_, k)
        out += s.r.to_bytes(32, "big") + s.s.to_bytes(32, "big") + bytes([s.v])
    return out


@dataclass(frozen=True)
class SafeMultisig:
    """One Safe proxy and (devnet/test) its owners' keys."""

    address: str
    owner_keys: tuple[str, ...]
    threshold: int
    chain_id: int

    @property
    def owners(self) -> list[str]:
        return [str(Account.from_key(k).address) for k in self.owner_keys]

    def message_hash(self, digest: bytes) -> bytes:
        return safe_message_hash(self.chain_id, self.address, digest)

    def sign_1271(self, digest: bytes, signers: int | Sequence[int] | None = None) -> bytes:
        """The owners' EIP-1271 signature over `digest`. `signers`: how many owners sign (the first n
        keys; default the threshold) or which ones (indices into `owner_keys`)."""
        if signers is None:
            signers = self.threshold
        idx = range(signers) if isinstance(signers, int) else signers
        return owner_signatures([self.owner_keys[i] for i in idx], self.message_hash(digest))


@dataclass(frozen=True)
class SafeInfra:
    """The Safe singleton, proxy factory and fallback handler on one chain: deploy once, create many Safes."""

    singleton: str
    factory: str
    fallback_handler: str
    chain_id: int

    @classmethod
    def deploy(cls, deployer: TxSender) -> SafeInfra:
        return cls(
            singleton=_deploy(deployer, SAFE),
            factory=_deploy(deployer, PROXY_FACTORY),
            fallback_handler=_deploy(deployer, FALLBACK_HANDLER),
            chain_id=int(deployer.w3.eth.chain_id),
        )

    def create_safe(
        self, sender: TxSender, owner_keys: Sequence[str], threshold: int, salt: int | None = None
    ) -> SafeMultisig:
        """A new `threshold`-of-`len(owner_keys)` Safe proxy with the compatibility fallback handler (so it
        answers EIP-1271). `salt` (CREATE2 salt nonce) defaults to a random 64-bit number."""
        if not 1 <= threshold <= len(owner_keys):
            raise SafeError(f"threshold {threshold} for {len(owner_keys)} owners")
        w3 = sender.w3
        safe_abi = safe_artifact(SAFE)["abi"]
        owners = [to_checksum_address(Account.from_key(k).address) for k in owner_keys]
        setup = w3.eth.contract(abi=safe_abi).encode_abi(
            "setup",
            args=[
                owners,
                threshold,
                ZERO_ADDRESS,
                b"",
                to_checksum_address(self.fallback_handler),
                ZERO_ADDRESS,
                0,
                ZERO_ADDRESS,
            ],
        )
        factory = w3.eth.contract(address=to_checksum_address(self.factory), abi=safe_artifact(PROXY_FACTORY)["abi"])
        nonce = secrets.randbits(64) if salt is None else salt
        sent = sender.send(factory.functions.createProxyWithNonce(to_checksum_address(self.singleton), setup, nonce))
        events = factory.events.ProxyCreation().process_receipt(sent.receipt, errors=DISCARD)
        if len(events) != 1:
            raise SafeError("createProxyWithNonce emitted no ProxyCreation event")
        address = str(events[0]["args"]["proxy"])
        safe = self.contract(sender, address)
        set_up = (int(safe.functions.getThreshold().call()), len(safe.functions.getOwners().call()))
        if set_up != (threshold, len(owners)):
            raise SafeError("the Safe was not set up with the given owners and threshold")
        return SafeMultisig(address, tuple(owner_keys), threshold, self.chain_id)

    @staticmethod
    def contract(sender: TxSender, address: str) -> Contract:
        """A Safe proxy with the Safe ABI."""
        c: Contract = sender.w3.eth.contract(address=to_checksum_address(address), abi=safe_artifact(SAFE)["abi"])
        return c


def deploy_safe(deployer: TxSender, owner_keys: Sequence[str], threshold: int) -> tuple[SafeInfra, SafeMultisig]:
    """Deploy the infrastructure and one Safe (a one-Safe chain, e.g. the demo)."""
    infra = SafeInfra.deploy(deployer)
    return infra, infra.create_safe(deployer, owner_keys, threshold)
