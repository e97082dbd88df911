"""The web3.py client of the crossclear vault: deposits, withdrawals, settlement, state and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from offchain.chain.artifacts import load_artifact
from offchain.chain.errors import ErrorDecoder
from offchain.chain.signers import SignerSignature
from offchain.chain.transactions import Sent, TxSender
from offchain.core.batch import Batch, WithdrawalApproval, decode_batch_words
from offchain.core.eip712 import Domain, vault_domain
from offchain.core.withdrawal import WithdrawalRequest

WITHDRAWAL_STATUS = {1: "pending", 2: "executed", 3: "cancelled", 4: "recalled"}


@dataclass(frozen=True)
class WithdrawalInfo:
    id: int
    account: int
    asset: int
    amount: int
    to: str
    ready_at: int
    status: str


@dataclass(frozen=True)
class SettledBatch:
    """A batch read back from the chain: the event plus the rows decoded from the tx's calldata."""

    batch: Batch
    digest: bytes
    tx_hash: bytes
    block_number: int
    signatures: tuple[SignerSignature, ...]


def _erc20_abi() -> list[dict[str, Any]]:
    return load_artifact("DevToken").abi


def vault_error_decoder() -> ErrorDecoder:
    """Names the custom errors of the vault and of the ERC-20 tokens it moves."""
    return ErrorDecoder(load_artifact("Vault").abi + _erc20_abi())


def vault_sender(w3: Web3, key: str) -> TxSender:
    """A TxSender for `key` whose reverts are decoded against the vault's and tokens' errors."""
    return TxSender(w3, key, vault_error_decoder())


class VaultClient:
    """Talks to one deployed vault. Reads need no key; writes go through a TxSender."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        artifact = load_artifact("Vault")
        self.contract: Contract = w3.eth.contract(address=to_checksum_address(address), abi=artifact.abi)
        self.decoder = vault_error_decoder()
        self._domain: Domain | None = None

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def domain(self) -> Domain:
        if self._domain is None:
            self._domain = vault_domain(self.w3.eth.chain_id, self.address)
        return self._domain

    def sender(self, key: str) -> TxSender:
        return vault_sender(self.w3, key)

    def token(self, asset: int) -> Contract:
        address = self.contract.functions.assetToken(asset).call()
        token: Contract = self.w3.eth.contract(address=address, abi=_erc20_abi())
        return token

    # ---------------------------------------------------------------- writes

    def admit_member(self, operator: TxSender, member: str) -> int:
        sent = operator.send(self.contract.functions.admitMember(to_checksum_address(member)))
        (event,) = self.contract.events.MemberAdmitted().process_receipt(sent.receipt, errors=DISCARD)
        return int(event["args"]["account"])

    def list_asset(self, governor: TxSender, token: str, price: int, haircut_bps: int) -> int:
        """List `token` with its first mark (governance role): `price` in settlement-asset base units per whole
        token (> 0), `haircut_bps` <= 10,000. The mark band anchors on it (docs/contracts.md "Accounts, assets")."""
        sent = governor.send(self.contract.functions.listAsset(to_checksum_address(token), price, haircut_bps))
        (event,) = self.contract.events.AssetListed().process_receipt(sent.receipt, errors=DISCARD)
        return int(event["args"]["asset"])

    def set_outflow_budget(self, governor: TxSender, asset: int, budget: int) -> Sent:
        """What batch approvals may release of `asset` per OUTFLOW_PERIOD before the withdrawal delay; in force
        from the next period (governance role)."""
        return governor.send(self.contract.functions.setOutflowBudget(asset, budget))

    def outflow_period(self) -> int:
        return int(self.contract.functions.OUTFLOW_PERIOD().call())

    def escape_period(self) -> int:
        """The escape period E in force for the next batch: the scheduled one if governance set one (the shorter
        of the two, for a deadline that must hold under either)."""
        f = self.contract.functions
        current, scheduled = int(f.escapePeriod().call()), int(f.nextEscapePeriod().call())
        return min(current, scheduled) if scheduled else current

    def loosening_delay(self) -> int:
        """How long a decrease of a requirement waits before it is in force (docs/contracts.md "Loosening")."""
        return int(self.contract.functions.loosening().call()[0])

    def deposit(self, payer: TxSender, member: str, asset: int, amount: int) -> Sent:
        """Approve (if needed) and deposit `amount` base units of `asset` for `member`."""
        token = self.token(asset)
        if token.functions.allowance(payer.address, self.address).call() < amount:
            payer.send(token.functions.approve(self.address, amount))
        return payer.send(self.contract.functions.deposit(to_checksum_address(member), asset, amount))

    def request_withdrawal(self, member: TxSender, asset: int, amount: int, to: str) -> int:
        sent = member.send(self.contract.functions.requestWithdrawal(asset, amount, to_checksum_address(to)))
        (event,) = self.contract.events.WithdrawalRequested().process_receipt(sent.receipt, errors=DISCARD)
        return int(event["args"]["id"])

    def request_withdrawal_by_sig(self, relayer: TxSender, req: WithdrawalRequest, signature: bytes) -> int:
        sent = relayer.send(self.contract.functions.requestWithdrawalBySig(req.as_call_args(), signature))
        (event,) = self.contract.events.WithdrawalRequested().process_receipt(sent.receipt, errors=DISCARD)
        return int(event["args"]["id"])

    def execute_withdrawal(self, caller: TxSender, withdrawal_id: int) -> Sent:
        return caller.send(self.contract.functions.executeWithdrawal(withdrawal_id))

    def cancel_withdrawal(self, member: TxSender, withdrawal_id: int) -> Sent:
        return member.send(self.contract.functions.cancelWithdrawal(withdrawal_id))

    def settle_call(self, batch: Batch, signatures: Sequence[SignerSignature]) -> ContractFunction:
        return self.contract.functions.settle(batch.as_call_args(), [s.as_call_args() for s in signatures])

    def settle(self, submitter: TxSender, batch: Batch, signatures: Sequence[SignerSignature]) -> Sent:
        return submitter.send(self.settle_call(batch, signatures))

    def request_exit(self, member: TxSender) -> Sent:
        """Ask the risk signers to serve the member's exit (docs/contracts.md "Forced exit"): until it cancels,
        the engine accepts only fills that reduce its positions, and serves it once it is flat."""
        return member.send(self.contract.functions.requestExit())

    def cancel_exit(self, member: TxSender) -> Sent:
        return member.send(self.contract.functions.cancelExit())

    def force_wind_down(self, caller: TxSender, account: int) -> Sent:
        return caller.send(self.contract.functions.forceWindDown(account))

    def trigger_wind_down(self, caller: TxSender) -> Sent:
        return caller.send(self.contract.functions.triggerWindDown())

    def wind_down_withdraw(self, member: TxSender, asset: int, to: str) -> Sent:
        return member.send(self.contract.functions.windDownWithdraw(asset, to_checksum_address(to)))

    # ---------------------------------------------------------------- reads

    def chain_digest(self, batch: Batch) -> bytes:
        """The digest as the contract computes it (the parity check for the Python encoder)."""
        return bytes(self.contract.functions.batchDigest(batch.as_call_args()).call())

    def last_sequence(self) -> int:
        return int(self.contract.functions.lastSequence().call())

    def last_batch_hash(self) -> bytes:
        return bytes(self.contract.functions.lastBatchHash().call())

    def balance(self, account: int, asset: int) -> int:
        return int(self.contract.functions.balanceOf(account, asset).call())

    def debt(self, account: int) -> int:
        return int(self.contract.functions.debtOf(account).call())

    def free_collateral(self, account: int) -> int:
        return int(self.contract.functions.freeCollateral(account).call())

    def account_of(self, member: str) -> int:
        return int(self.contract.functions.accountOf(to_checksum_address(member)).call())

    def total_owed(self, asset: int) -> int:
        return int(self.contract.functions.totalOwed(asset).call())

    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo:
        w = self.contract.functions.withdrawal(withdrawal_id).call()
        return WithdrawalInfo(withdrawal_id, w[0], w[1], w[2], w[3], w[4], WITHDRAWAL_STATUS.get(w[5], "none"))

    def approval(self, withdrawal_id: int) -> int:
        """The approval word a batch carries to release withdrawal `withdrawal_id` at once: it binds the
        withdrawal's account, asset and amount as the vault holds them."""
        w = self.withdrawal(withdrawal_id)
        return WithdrawalApproval(id=withdrawal_id, account=w.account, asset=w.asset, amount=w.amount).pack()

    def settled_digest(self, sequence: int) -> tuple[bytes, bytes, int] | None:
        """(digest, tx hash, block) of the applied batch with this sequence, from its event."""
        logs = self.contract.events.BatchSettled().get_logs(from_block=0, argument_filters={"sequence": sequence})
        if not logs:
            return None
        log = logs[-1]
        return bytes(log["args"]["digest"]), bytes(log["transactionHash"]), int(log["blockNumber"])

    def settled_batches(self, from_block: int = 0, to_block: int | str = "latest") -> list[SettledBatch]:
        """Every applied batch, rebuilt from BatchSettled events and the settle() calldata."""
        logs = self.contract.events.BatchSettled().get_logs(from_block=from_block, to_block=to_block)
        out: list[SettledBatch] = []
        for log in logs:
            tx = self.w3.eth.get_transaction(log["transactionHash"])
            fn, params = self.contract.decode_function_input(tx["input"])
            if fn.fn_name != "settle":
                raise ValueError(f"BatchSettled emitted by a call to {fn.fn_name}, not settle")
            b = params["batch"]
            batch = decode_batch_words(*b) if isinstance(b, (tuple, list)) else decode_batch_words(*b.values())
            sigs = tuple(
                SignerSignature(
                    str(s[0]) if isinstance(s, (tuple, list)) else s["signer"],
                    bytes(s[1]) if isinstance(s, (tuple, list)) else s["signature"],
                )
                for s in params["signatures"]
            )
            out.append(
                SettledBatch(
                    batch=batch,
                    digest=bytes(log["args"]["digest"]),
                    tx_hash=bytes(log["transactionHash"]),
                    block_number=int(log["blockNumber"]),
                    signatures=sigs,
                )
            )
        return out
