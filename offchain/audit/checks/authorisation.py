"""Was each batch authorised and in order? Sequence, hash chain, digest, zero-sum, risk signatures.

The signer set in force is the one of the last `SignersUpdated` event before the batch (the vault's
constructor emits one, so the deployment transaction sets the first). A signature counts when its
signer is in that set, signers are strictly ascending (no duplicates), and it is a valid ECDSA signature
(low s, as OpenZeppelin's ECDSA) or, for a signer with code, `isValidSignature` (EIP-1271) returns the
magic value at the batch's block. At least `threshold` must count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from web3 import Web3

from offchain.audit.errors import Discrepancy
from offchain.audit.events.types import BatchSettled, SettleCall, SignersUpdated
from offchain.core.batch import Batch, Transfer, decode_batch_words, zero_sum_violations
from offchain.core.eip712 import Domain
from offchain.core.fills import InvalidSignature, recover_signer

EIP1271_MAGIC = bytes.fromhex("1626ba7e")
_EIP1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]
ZERO32 = b"\x00" * 32


def batch_of(call: SettleCall) -> Batch:
    """The core Batch of a settle call (its transfers already checked to sum to zero)."""
    return decode_batch_words(*call.raw)


@dataclass
class ChainState:
    """What the previous batches and governance left: the tip of the hash chain and the signer set."""

    w3: Web3
    domain: Domain
    last_sequence: int = 0
    last_digest: bytes = ZERO32
    last_as_of: int = 0
    signers: frozenset[str] = frozenset()
    threshold: int = 0
    _has_code: dict[str, bool] = field(default_factory=dict)

    def signers_updated(self, e: SignersUpdated) -> None:
        self.signers = frozenset(e.signers)
        self.threshold = e.threshold

    def check_batch(self, event: BatchSettled, call: SettleCall) -> Batch:
        """Check one batch against the chain tip; advance the tip. Returns the batch."""
        seq = event.sequence
        if call.sequence != seq:
            raise Discrepancy(seq, "calldata", f"BatchSettled is sequence {seq}, the settle call {call.sequence}")
        self._check_order(seq, call.prev_hash, call.as_of, call.transfers)
        if call.fills_root != event.fills_root:
            raise Discrepancy(seq, "calldata", "fillsRoot in the event differs from the settle call's")
        batch = batch_of(call)
        digest = batch.digest(self.domain)
        if digest != event.digest:
            raise Discrepancy(
                seq, "digest", f"recomputed digest 0x{digest.hex()} differs from the emitted 0x{event.digest.hex()}"
            )
        self._check_signatures(seq, digest, call, event.at.block)
        self.last_sequence, self.last_digest, self.last_as_of = seq, digest, call.as_of
        return batch

    def check_proposal(self, batch: Batch) -> None:
        """The order checks of `check_batch` for a batch not yet settled (it has no signatures yet); does not
        advance the tip (a proposal is checked on a copy of the state)."""
        self._check_order(batch.sequence, batch.prev_hash, batch.as_of, batch.transfers)

    def _check_order(self, seq: int, prev_hash: bytes, as_of: int, transfers: Iterable[Transfer]) -> None:
        """What a settled batch and a proposal must both be: the next sequence, chained to the previous
        digest, no earlier than the previous asOf, with transfers that sum to zero per asset."""
        if seq != self.last_sequence + 1:
            raise Discrepancy(seq, "sequence", f"expected sequence {self.last_sequence + 1}, got {seq}")
        if prev_hash != self.last_digest:
            raise Discrepancy(
                seq,
                "hash-chain",
                f"prevHash 0x{prev_hash.hex()} is not the previous digest 0x{self.last_digest.hex()}",
            )
        if as_of < self.last_as_of:
            raise Discrepancy(seq, "as-of", f"asOf {as_of} is before the previous batch's {self.last_as_of}")
        bad = zero_sum_violations(transfers)
        if bad:
            asset, total = sorted(bad.items())[0]
            raise Discrepancy(seq, "zero-sum", f"transfers of asset {asset} sum to {total}, not zero")

    def _check_signatures(self, seq: int, digest: bytes, call: SettleCall, block: int) -> None:
        if not self.signers:
            raise Discrepancy(seq, "signatures", "settled before any signer set was registered")
        prev = 0
        for s in call.signatures:
            n = int(s.signer, 16)
            if n <= prev:
                raise Discrepancy(seq, "signatures", f"signers not strictly ascending at {s.signer}")
            prev = n
            if s.signer not in self.signers:
                raise Discrepancy(seq, "signatures", f"{s.signer} is not a risk signer in force at this batch")
            if not self._valid(s.signer, digest, s.signature, block):
                raise Discrepancy(seq, "signatures", f"invalid signature by risk signer {s.signer}")
        if len(call.signatures) < self.threshold:
            raise Discrepancy(
                seq, "signatures", f"{len(call.signatures)} valid signatures, the threshold is {self.threshold}"
            )

    def _valid(self, signer: str, digest: bytes, signature: bytes, block: int) -> bool:
        if signer not in self._has_code:
            self._has_code[signer] = len(self.w3.eth.get_code(signer)) > 0  # type: ignore[arg-type]
        if not self._has_code[signer]:
            try:
                return recover_signer(digest, signature) == signer
            except InvalidSignature:
                return False
        contract = self.w3.eth.contract(address=signer, abi=_EIP1271_ABI)  # type: ignore[call-overload]
        result = contract.functions.isValidSignature(digest, signature).call(block_identifier=block)
        return bytes(result) == EIP1271_MAGIC
