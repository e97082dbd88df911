"""A real Safe 1.4.1 multisig on the demo chain, deployed with web3.py from the compiled artefacts that the
npm package `@safe-global/safe-contracts` ships (contracts/node_modules), and its owners' EIP-1271 signature.

The hashing follows Safe's CompatibilityFallbackHandler (see contracts/test/integration/SafeHelpers.sol,
whose forge test checks it against the handler): owners sign
`keccak256(0x1901 ‖ domain ‖ keccak256(abi.encode(SAFE_MSG_TYPEHASH, keccak256(abi.encode(hash)))))`
with the Safe's own domain `EIP712Domain(uint256 chainId,address verifyingContract)`, and the signatures
are concatenated in ascending owner-address order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.logs import DISCARD

from offchain.chain.artifacts import CONTRACTS_DIR
from offchain.chain.transactions import TxSender

SAFE_ARTIFACTS = (
    CONTRACTS_DIR / "node_modules" / "@safe-global" / "safe-contracts" / "build" / "artifacts" / "contracts"
)
SAFE_MSG_TYPEHASH = keccak(text="SafeMessage(bytes message)")
SAFE_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
ZERO = "0x0000000000000000000000000000000000000000"


class SafeError(RuntimeError):
    """The Safe artefacts are missing or the Safe could not be created."""


@cache
def _artifact(relative: str) -> dict[str, Any]:
    path = SAFE_ARTIFACTS / relative
    if not path.is_file():
        raise SafeError(f"Safe artefact not found: {path} (run ./scripts/setup.sh: it installs the npm package)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _deploy(sender: TxSender, relative: str) -> str:
    a = _artifact(relative)
    sent = sender.send(sender.w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"]).constructor())
    address = sent.receipt["contractAddress"]
    if address is None:
        raise SafeError(f"deploying {relative} returned no address")
    return str(address)


@dataclass(frozen=True)
class SafeMultisig:
    address: str
    owner_keys: tuple[str, ...]
    threshold: int
    chain_id: int

    def message_hash(self, digest: bytes) -> bytes:
        """The hash the owners sign for `isValidSignature(digest, ...)` (CompatibilityFallbackHandler)."""
        domain = keccak(encode(["bytes32", "uint256", "address"], [SAFE_DOMAIN_TYPEHASH, self.chain_id, self.address]))
        struct = keccak(encode(["bytes32", "bytes32"], [SAFE_MSG_TYPEHASH, keccak(encode(["bytes32"], [digest]))]))
        return keccak(b"\x19\x01" + domain + struct)

    def sign_1271(self, digest: bytes, signers: int | None = None) -> bytes:
        """`signers` (default: the threshold) owners' signatures over the Safe message hash of `digest`."""
        n = self.threshold if signers is None else signers
        h = self.message_hash(digest)
        keys = sorted(self.owner_keys[:n], key=lambda k: int(Account.from_key(k).address, 16))
        out = b""
        for k in keys:
            s = Account.unsafe_sign_hash(h, k)
            out += s.r.to_bytes(32, "big") + s.s.to_bytes(32, "big") + bytes([s.v])
        return out


def deploy_safe(w3: Web3, deployer: TxSender, owner_keys: tuple[str, ...], threshold: int) -> SafeMultisig:
    """Deploy the Safe singleton, proxy factory and fallback handler, then one Safe proxy."""
    singleton = _deploy(deployer, "Safe.sol/Safe.json")
    factory_address = _deploy(deployer, "proxies/SafeProxyFactory.sol/SafeProxyFactory.json")
    handler = _deploy(deployer, "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json")
    safe_abi = _artifact("Safe.sol/Safe.json")["abi"]
    owners = [to_checksum_address(Account.from_key(k).address) for k in owner_keys]
    setup = w3.eth.contract(abi=safe_abi).encode_abi(
        "setup", args=[owners, threshold, ZERO, b"", to_checksum_address(handler), ZERO, 0, ZERO]
    )
    factory = w3.eth.contract(
        address=to_checksum_address(factory_address),
        abi=_artifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json")["abi"],
    )
    sent = deployer.send(factory.functions.createProxyWithNonce(to_checksum_address(singleton), setup, 1))
    (event,) = factory.events.ProxyCreation().process_receipt(sent.receipt, errors=DISCARD)
    address = str(event["args"]["proxy"])
    safe = w3.eth.contract(address=to_checksum_address(address), abi=safe_abi)
    if int(safe.functions.getThreshold().call()) != threshold or len(safe.functions.getOwners().call()) != len(owners):
        raise SafeError("the Safe was not set up with the given owners and threshold")
    return SafeMultisig(address, tuple(owner_keys), threshold, int(w3.eth.chain_id))
