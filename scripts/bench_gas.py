#!/usr/bin/env python3
"""Gas benchmark of Vault.settle on a real Anvil chain.

Settles batches of 10, 100, 500 and 2,000 transfers among existing members (each member's balance
slot is non-zero and first touched in the transaction, as in production where netting leaves one
transfer per member and asset), with a 2-of-3 signer set and the batch's one event, and prints:
 - gas per transfer by batch size (whole transaction gas, 21,000 base and calldata included / N);
 - transfers per 30M-gas block (from the marginal cost per transfer and the fixed cost per batch);
 - for F fills among M members netted into T transfers, gas per fill netted vs gross, where gross is
   two real ERC-20 transfers per fill measured on the same chain.
`--json` prints the same figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web3 import Web3  # noqa: E402
from web3.types import Nonce, TxParams  # noqa: E402

from offchain.chain.anvil import ANVIL_KEYS, Anvil  # noqa: E402
from offchain.chain.deploy import Deployment, VaultParams, deploy_devnet, mint  # noqa: E402
from offchain.chain.signers import RiskSigner, sign_batch  # noqa: E402
from offchain.chain.transactions import TxSender  # noqa: E402
from offchain.chain.vault import vault_sender  # noqa: E402
from offchain.core.batch import Batch, Transfer  # noqa: E402

SIZES = (10, 100, 500, 2_000)
BLOCK_GAS = 30_000_000
USDC = 10**6


def admit_many(w3: Web3, d: Deployment, operator: TxSender, n: int) -> list[int]:
    """Admit n fresh member addresses, pipelining the transactions (explicit nonces)."""
    fn = d.vault.contract.functions
    nonce = w3.eth.get_transaction_count(operator.account.address)
    hashes = []
    for i in range(n):
        member = Web3.to_checksum_address(f"0x{(0xC0FFEE << 100) + i:040x}")
        params: TxParams = {
            "from": operator.account.address,
            "nonce": Nonce(nonce + i),
            "gas": 120_000,
            "chainId": w3.eth.chain_id,
        }
        tx = fn.admitMember(member).build_transaction(params)
        # eth-account annotates transaction_dict as a plain dict[str, ...], which web3's TxParams TypedDict
        # (what build_transaction returns, and what sign_transaction accepts at runtime) can never match.
        signed = operator.account.sign_transaction(tx)  # type: ignore[arg-type]
        hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
    for h in hashes:
        if w3.eth.wait_for_transaction_receipt(h)["status"] != 1:
            raise RuntimeError("admitMember failed")
    first = int(fn.accountCount().call()) - n + 1
    return list(range(first, first + n))


class Settler:
    def __init__(self, w3: Web3, d: Deployment, operator: TxSender, signers: list[RiskSigner]) -> None:
        self.w3, self.d, self.operator, self.signers = w3, d, operator, signers

    def settle(self, transfers: list[Transfer]) -> int:
        vault = self.d.vault
        batch = Batch(
            sequence=vault.last_sequence() + 1,
            prev_hash=vault.last_batch_hash(),
            as_of=int(self.w3.eth.get_block("latest")["timestamp"]),
            fills_root=b"\x5a" * 32,
            transfers=tuple(transfers),
        )
        return vault.settle(self.operator, batch, sign_batch(batch, vault.domain, self.signers[:2])).gas_used


def seed_balances(settler: Settler, funder: int, accounts: list[int], each: int) -> None:
    """Give every account a non-zero cash balance (the first write of each slot, not measured)."""
    for start in range(0, len(accounts), 400):
        chunk = accounts[start : start + 400]
        rows = [Transfer(account=a, asset=0, amount=each) for a in chunk]
        rows.append(Transfer(account=funder, asset=0, amount=-each * len(chunk)))
        settler.settle(rows)


def pairs_batch(accounts: list[int], rng: random.Random) -> list[Transfer]:
    """Zero-sum transfers touching each account once: half pay, half receive."""
    rows = []
    for i in range(0, len(accounts) - 1, 2):
        amount = rng.randint(1, 1_000) * USDC
        rows.append(Transfer(account=accounts[i], asset=0, amount=-amount))
        rows.append(Transfer(account=accounts[i + 1], asset=0, amount=amount))
    return rows


def netted_fills(accounts: list[int], fills: int, rng: random.Random) -> list[Transfer]:
    """Variation margin of `fills` random trades among `accounts`, netted to one transfer per member."""
    net: dict[int, int] = {}
    for _ in range(fills):
        buyer, seller = rng.sample(accounts, 2)
        pnl = rng.randint(-500, 500) * USDC  # the buyer's mark-to-market on this fill
        net[buyer] = net.get(buyer, 0) + pnl
        net[seller] = net.get(seller, 0) - pnl
    return [Transfer(account=a, asset=0, amount=v) for a, v in sorted(net.items()) if v != 0]


def erc20_transfer_gas(w3: Web3, d: Deployment, operator: TxSender) -> int:
    """Gas of one ERC-20 transfer between existing holders, measured on this chain."""
    a, b = vault_sender(w3, ANVIL_KEYS[7]), vault_sender(w3, ANVIL_KEYS[8])
    token = d.vault.token(0)
    mint(operator, d.tokens["USDC"], a.address, 10 * USDC)
    mint(operator, d.tokens["USDC"], b.address, 10 * USDC)
    return a.send(token.functions.transfer(b.address, 1 * USDC)).gas_used


class Netting(TypedDict):
    fills: int
    members: int
    transfers: int


class GasReport(TypedDict):
    """What `run` measures (and `--json` prints)."""

    gas_per_transfer: dict[str, float]
    batch_gas: dict[str, int]
    marginal_gas_per_transfer: float
    fixed_gas_per_batch: int
    transfers_per_block: int
    netting: Netting
    gas_per_fill_netted: float
    gas_per_fill_gross: int
    netting_ratio: float


def run(fills: int, members_for_fills: int) -> GasReport:
    rng = random.Random(7)
    with Anvil(gas_limit=200_000_000) as chain:
        w3 = chain.web3()
        operator = vault_sender(w3, ANVIL_KEYS[0])
        signers = [RiskSigner.from_devnet_key(k, w3.eth.chain_id) for k in ANVIL_KEYS[1:4]]
        d = deploy_devnet(w3, operator, VaultParams(signers=[s.address for s in signers], threshold=2))
        settler = Settler(w3, d, operator, signers)
        funder = d.vault.admit_member(operator, operator.address)
        total = max(SIZES)
        mint(operator, d.tokens["USDC"], operator.address, 10**18)
        d.vault.deposit(operator, operator.address, 0, 10**18)
        accounts = admit_many(w3, d, operator, total)
        seed_balances(settler, funder, accounts, 1_000_000 * USDC)

        per_transfer: dict[str, float] = {}
        totals: dict[int, int] = {}
        for n in SIZES:
            rows = pairs_batch(rng.sample(accounts, n), rng)
            totals[n] = settler.settle(rows)
            per_transfer[str(n)] = totals[n] / n
        # Linear fit gas = fixed + marginal * n over the measured sizes.
        xs, ys = list(totals), [totals[n] for n in totals]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        marginal = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        fixed = my - marginal * mx
        per_block = int((BLOCK_GAS - fixed) // marginal)

        members = rng.sample(accounts, members_for_fills)
        netted = netted_fills(members, fills, rng)
        netted_gas = settler.settle(netted)
        gross_per_fill = 2 * erc20_transfer_gas(w3, d, operator)
    return {
        "gas_per_transfer": per_transfer,
        "batch_gas": {str(n): g for n, g in totals.items()},
        "marginal_gas_per_transfer": round(marginal, 1),
        "fixed_gas_per_batch": round(fixed),
        "transfers_per_block": per_block,
        "netting": {"fills": fills, "members": members_for_fills, "transfers": len(netted)},
        "gas_per_fill_netted": round(netted_gas / fills, 1),
        "gas_per_fill_gross": gross_per_fill,
        "netting_ratio": round(gross_per_fill / (netted_gas / fills), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--fills", type=int, default=5_000, help="fills in the netting comparison")
    parser.add_argument("--members", type=int, default=200, help="members trading in the netting comparison")
    args = parser.parse_args()
    r = run(args.fills, args.members)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print("Vault.settle gas on Anvil (2-of-3 ECDSA signatures, one event per batch)")
    for n, g in r["gas_per_transfer"].items():
        print(f"  {int(n):>5} transfers: {g:>8,.0f} gas per transfer (batch {r['batch_gas'][n]:,} gas)")
    print(
        f"  marginal {r['marginal_gas_per_transfer']:,} gas per transfer, fixed {r['fixed_gas_per_batch']:,} per batch"
    )
    print(f"  transfers per 30M-gas block: {r['transfers_per_block']:,}")
    nt = r["netting"]
    print(
        f"netting: {nt['fills']:,} fills among {nt['members']} members → {nt['transfers']} transfers: "
        f"{r['gas_per_fill_netted']:,} gas per fill netted vs {r['gas_per_fill_gross']:,} gross "
        f"(two ERC-20 transfers) = {r['netting_ratio']}× cheaper"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
