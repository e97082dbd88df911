"""Does the replayed ledger match the vault's, and is the vault solvent?

At the audited block, for every account (system accounts and every admitted member) and every listed
asset: the replayed balance equals `balanceOf`, and every member's replayed debt equals `debtOf`. Then per
asset: Σ balances + pending withdrawals (replayed) == the replayed amount owed == `totalOwed(asset)` ≤
`token.balanceOf(vault)` (an excess can only come from direct transfers to the vault). The default fund:
`defaultFundPool` = the replayed pool (value, shares), `openDefaults` = the replayed count, and per
member `contributionOf`, `inDefault`, `defaulted` and `marginCallOf` = the replayed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import VaultReplay
from offchain.chain.artifacts import load_artifact
from offchain.core.batch import FEE_ACCOUNT, FIRST_MEMBER_ACCOUNT


@dataclass(frozen=True)
class AssetSolvency:
    asset: int
    token: str
    balances: int  # Σ account balances
    pending: int  # pending withdrawals
    owed: int  # vault.totalOwed
    held: int  # token.balanceOf(vault)

    @property
    def surplus(self) -> int:
        return self.held - self.owed


def _calls(w3: Web3, calls: Sequence[Any], block: int) -> list[Any]:
    """Run view calls at `block`, in JSON-RPC batches where the provider supports them."""
    out: list[Any] = []
    for i in range(0, len(calls), 500):
        chunk = calls[i : i + 500]
        try:
            with w3.batch_requests() as batch:
                for fn in chunk:
                    batch.add(fn.call(block_identifier=block))
                out.extend(batch.execute())
        except (NotImplementedError, AttributeError, TypeError):
            out.extend(fn.call(block_identifier=block) for fn in chunk)
    return out


def check_final_state(w3: Web3, vault: Contract, replay: VaultReplay, block: int) -> list[AssetSolvency]:
    f = vault.functions
    account_count = int(f.accountCount().call(block_identifier=block))
    asset_count = int(f.assetCount().call(block_identifier=block))
    known = max([FIRST_MEMBER_ACCOUNT - 1, *replay.accounts])
    if account_count != known:
        raise Discrepancy(None, "accounts", f"the vault has {account_count} accounts, the events admit {known}")
    if asset_count != len(replay.marks):
        raise Discrepancy(None, "assets", f"the vault lists {asset_count} assets, the events {len(replay.marks)}")
    accounts = range(FEE_ACCOUNT, account_count + 1)
    keys = [(a, s) for a in accounts for s in range(asset_count)]
    members = [a for a in accounts if a >= FIRST_MEMBER_ACCOUNT]
    results = _calls(w3, [f.balanceOf(a, s) for a, s in keys] + [f.debtOf(a) for a in members], block)
    for (a, s), chain in zip(keys, results[: len(keys)], strict=True):
        mine = replay.balances.get((a, s), 0)
        if int(chain) != mine:
            raise Discrepancy(None, "balance", f"account {a} asset {s}: replayed balance {mine}, balanceOf {chain}")
    for a, chain in zip(members, results[len(keys) :], strict=True):
        mine = replay.debt.get(a, 0)
        if int(chain) != mine:
            raise Discrepancy(None, "debt", f"account {a}: replayed debt {mine}, debtOf {chain}")
    _check_default_fund(w3, vault, replay, members, block)

    erc20 = load_artifact("DevToken").abi
    out = []
    for s in range(asset_count):
        token_address = str(f.assetToken(s).call(block_identifier=block))
        token = w3.eth.contract(address=token_address, abi=erc20)  # type: ignore[call-overload]
        owed = int(f.totalOwed(s).call(block_identifier=block))
        held = int(token.functions.balanceOf(vault.address).call(block_identifier=block))
        row = AssetSolvency(s, token_address, replay.balance_sum(s), replay.pending_total(s), owed, held)
        if row.balances + row.pending != replay.total_owed.get(s, 0):
            raise Discrepancy(
                None,
                "solvency",
                f"asset {s}: balances {row.balances} + pending withdrawals {row.pending} != replayed amount owed "
                f"{replay.total_owed.get(s, 0)}",
            )
        if owed != row.balances + row.pending:
            raise Discrepancy(
                None,
                "solvency",
                f"asset {s}: totalOwed {owed} != balances {row.balances} + pending withdrawals {row.pending}",
            )
        if held < owed:
            raise Discrepancy(None, "solvency", f"asset {s}: the vault holds {held} of {token_address}, owes {owed}")
        out.append(row)
    return out


def _check_default_fund(w3: Web3, vault: Contract, replay: VaultReplay, members: list[int], block: int) -> None:
    f = vault.functions
    fund = replay.fund
    views = ("contributionOf", "inDefault", "defaulted", "marginCallOf")
    calls = [f.defaultFundPool(), f.openDefaults()] + [getattr(f, v)(a) for a in members for v in views]
    results = _calls(w3, calls, block)
    pool, open_defaults = tuple(int(x) for x in results[0]), int(results[1])
    if pool != (fund.value, fund.shares):
        raise Discrepancy(
            None,
            "pool",
            f"replayed default-fund pool (value, shares) {(fund.value, fund.shares)}, defaultFundPool {pool}",
        )
    if open_defaults != fund.open:
        raise Discrepancy(None, "default", f"replayed open defaults {fund.open}, openDefaults {open_defaults}")
    for i, a in enumerate(members):
        contribution, in_default, defaulted, call = results[2 + i * len(views) : 2 + (i + 1) * len(views)]
        mine_call = replay.margin_calls.get(a, (0, 0))
        if int(contribution) != fund.value_of(a):
            raise Discrepancy(
                None,
                "contribution",
                f"account {a}: replayed contribution {fund.value_of(a)}, contributionOf {contribution}",
            )
        if (bool(in_default), bool(defaulted)) != (fund.is_open(a), a in fund.defaulted):
            raise Discrepancy(
                None,
                "default",
                f"account {a}: replayed in default {fund.is_open(a)} (ever {a in fund.defaulted}), "
                f"inDefault {bool(in_default)} (defaulted {bool(defaulted)})",
            )
        if tuple(int(x) for x in call) != mine_call:
            raise Discrepancy(
                None,
                "margin-call",
                f"account {a}: replayed margin call (amount, deadline) {mine_call}, marginCallOf {call}",
            )
