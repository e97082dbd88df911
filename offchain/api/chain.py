"""What the API reads from and sends to the chain, behind one small interface (`ChainGateway`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import requests
from eth_utils import to_checksum_address
from web3.exceptions import Web3Exception

from offchain.api.errors import ApiError, chain_unavailable
from offchain.api.signing import EIP1271_MAGIC
from offchain.chain.errors import ChainError, RevertedError
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, WithdrawalInfo
from offchain.core.withdrawal import WithdrawalRequest

_IERC1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]

# Failures of the node or the transport, as opposed to a revert the vault chose.
TRANSPORT_ERRORS = (requests.RequestException, ConnectionError, TimeoutError, OSError, Web3Exception, ChainError)


@dataclass(frozen=True)
class WithdrawalView:
    id: int
    account: int
    asset: int
    amount: int
    to: str
    ready_at: int
    status: str
    tx_hash: str | None


class ChainGateway(Protocol):
    def has_code(self, address: str) -> bool: ...
    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool: ...
    def account_of(self, address: str) -> int: ...
    def asset_count(self) -> int: ...
    def balance(self, account: int, asset: int) -> int: ...
    def asset_decimals(self, asset: int) -> int: ...
    def withdrawals(self, account: int) -> list[WithdrawalView]: ...
    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo: ...
    def relay_withdrawal(self, req: WithdrawalRequest, signature: bytes) -> WithdrawalView: ...


class Web3Chain:
    """`ChainGateway` over a VaultClient; `relayer` pays gas for relayed withdrawal requests."""

    def __init__(self, vault: VaultClient, relayer: TxSender | None) -> None:
        self.vault = vault
        self.relayer = relayer
        self._send_lock = threading.Lock()  # one relayer account: one transaction at a time (nonces)
        self._decimals: dict[int, int] = {}  # listed tokens never change

    def has_code(self, address: str) -> bool:
        try:
            return len(self.vault.w3.eth.get_code(to_checksum_address(address))) > 0
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def is_valid_signature(self, address: str, digest: bytes, signature: bytes) -> bool:
        c = self.vault.w3.eth.contract(address=to_checksum_address(address), abi=_IERC1271_ABI)
        try:
            return bytes(c.functions.isValidSignature(digest, signature).call()) == EIP1271_MAGIC
        except (Web3Exception, ValueError):
            return False  # a revert or a non-conforming contract: not a valid signature
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def account_of(self, address: str) -> int:
        try:
            return self.vault.account_of(address)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def asset_count(self) -> int:
        try:
            return int(self.vault.contract.functions.assetCount().call())
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def balance(self, account: int, asset: int) -> int:
        try:
            return self.vault.balance(account, asset)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def asset_decimals(self, asset: int) -> int:
        if asset not in self._decimals:
            try:
                self._decimals[asset] = int(self.vault.token(asset).functions.decimals().call())
            except TRANSPORT_ERRORS as exc:
                raise chain_unavailable(str(exc)) from exc
        return self._decimals[asset]

    def withdrawals(self, account: int) -> list[WithdrawalView]:
        try:
            logs = self.vault.contract.events.WithdrawalRequested().get_logs(
                from_block=0, argument_filters={"account": account}
            )
            out = []
            for log in logs:
                info = self.vault.withdrawal(int(log["args"]["id"]))
                out.append(_view(info, "0x" + bytes(log["transactionHash"]).hex()))
            return out
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def withdrawal(self, withdrawal_id: int) -> WithdrawalInfo:
        try:
            return self.vault.withdrawal(withdrawal_id)
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc

    def relay_withdrawal(self, req: WithdrawalRequest, signature: bytes) -> WithdrawalView:
        if self.relayer is None:
            raise chain_unavailable("this API process has no relayer key")
        try:
            with self._send_lock:
                wid = self.vault.request_withdrawal_by_sig(self.relayer, req, signature)
            return _view(self.vault.withdrawal(wid), None)
        except RevertedError as exc:
            raise ApiError(422, "vault_refused", str(exc)) from exc
        except TRANSPORT_ERRORS as exc:
            raise chain_unavailable(str(exc)) from exc


def _view(info: WithdrawalInfo, tx_hash: str | None) -> WithdrawalView:
    return WithdrawalView(
        info.id, info.account, info.asset, info.amount, str(info.to), info.ready_at, info.status, tx_hash
    )
