"""Sending transactions: signed locally with the sender's key, never with an unlocked node account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import TxReceipt

from offchain.chain.errors import (
    RPC_FAILURES,
    ErrorDecoder,
    RevertedError,
    TransactionFailedError,
    revert_data,
    translate_rpc_error,
)


@dataclass(frozen=True)
class Sent:
    tx_hash: bytes
    receipt: TxReceipt

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])


@dataclass(frozen=True)
class Prepared:
    """A signed transaction, kept so that it can be stored before it is broadcast."""

    raw: bytes
    tx_hash: bytes
    nonce: int


class TxSender:
    """Builds, signs and sends one account's transactions and waits for their receipts.

    Every call is simulated first (gas estimation against the pending block, the one the transaction
    will join), so a transaction that would revert raises a RevertedError naming the custom error and is
    never broadcast. Node and transport failures come out as crossclear's chain errors
    (offchain/chain/errors.py: RpcUnavailable, NonceTooLow, AlreadyKnown, Underpriced, TxNotFound...).
    """

    def __init__(self, w3: Web3, account: LocalAccount | str, decoder: ErrorDecoder, timeout: float = 120) -> None:
        self.w3 = w3
        self.account: LocalAccount = Account.from_key(account) if isinstance(account, str) else account
        self.decoder = decoder
        self.timeout = timeout

    @property
    def address(self) -> str:
        return str(self.account.address)

    def _estimate(self, fn: ContractFunction | ContractConstructor, tx: dict[str, Any]) -> int:
        try:
            # "pending": simulate in the next block (its timestamp), not the latest one, which may be old
            return int(fn.estimate_gas(tx, block_identifier="pending"))  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            data = revert_data(exc)
            if data is None:
                raise RevertedError("Reverted", (str(exc),), b"") from exc
            raise self.decoder.decode(data) from exc
        except RPC_FAILURES as exc:
            raise translate_rpc_error(exc) from exc

    def prepare(
        self, fn: ContractFunction | ContractConstructor, gas: int | None = None, fee_bump: float = 1.0
    ) -> Prepared:
        """Simulate, then build and sign the transaction without broadcasting it. `fee_bump` > 1 raises
        the EIP-1559 fees, to replace a pending transaction that holds the same nonce."""
        try:
            tx: dict[str, Any] = {"from": self.address, "chainId": self.w3.eth.chain_id}
            if fee_bump != 1.0:
                base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
                tip = int(self.w3.eth.max_priority_fee * fee_bump) + 1
                tx["maxPriorityFeePerGas"] = tip
                tx["maxFeePerGas"] = int((2 * base + tip) * fee_bump) + 1
            estimate = self._estimate(fn, tx)
            tx["gas"] = gas or estimate + estimate // 5 + 10_000
            tx["nonce"] = self.w3.eth.get_transaction_count(self.account.address, "pending")
            built = fn.build_transaction(tx)  # type: ignore[arg-type]
        except RPC_FAILURES as exc:
            raise translate_rpc_error(exc) from exc
        signed = self.account.sign_transaction(built)  # type: ignore[arg-type]
        return Prepared(bytes(signed.raw_transaction), bytes(signed.hash), int(tx["nonce"]))

    def broadcast(self, prepared: Prepared) -> bytes:
        try:
            return bytes(self.w3.eth.send_raw_transaction(prepared.raw))
        except RPC_FAILURES as exc:
            raise translate_rpc_error(exc) from exc

    def lookup(self, tx_hash: bytes) -> None:
        """Raise TxNotFound unless the node knows the transaction (pending or included)."""
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except RPC_FAILURES as exc:
            raise translate_rpc_error(exc) from exc

    def wait(self, tx_hash: bytes) -> Sent:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=self.timeout)
        except RPC_FAILURES as exc:
            raise translate_rpc_error(exc) from exc
        if receipt["status"] != 1:
            raise TransactionFailedError(
                f"transaction 0x{tx_hash.hex()} reverted on inclusion (gas used {receipt['gasUsed']})"
            )
        return Sent(tx_hash, receipt)

    def send(self, fn: ContractFunction | ContractConstructor, gas: int | None = None) -> Sent:
        return self.wait(self.broadcast(self.prepare(fn, gas)))
