"""What the members do on their own: top up when their collateral falls below IM, request withdrawals (the
DAO through its Safe with an EIP-1271 signature, the foundation from its own key) and execute them after the
delay, and — the market makers — bid in close-out auctions."""

from __future__ import annotations

from dataclasses import dataclass

from offchain.chain.errors import RevertedError
from offchain.core.withdrawal import WithdrawalRequest
from offchain.defaults.calls import MemberState
from offchain.demo import defaults as dm
from offchain.demo.observer import Journal
from offchain.demo.world import HOUR, USD, Member, World

# The market makers' bids in close-out auctions: share of each tranche, edge off the mark (bps), tranches skipped.
BIDDING = {"dex_maker": (4_500, 120, frozenset[int]()), "cex_maker": (4_000, 80, frozenset({2}))}


@dataclass
class PendingWithdrawal:
    member: str
    id: int
    amount: float
    ready_at: int
    how: str


class Members:
    def __init__(self, world: World, journal: Journal, ticks: int) -> None:
        self.world, self.journal = world, journal
        self.withdrawals: list[PendingWithdrawal] = []
        self.safe_at = max(1, ticks // 3)  # when the DAO withdraws through its Safe
        self.eoa_at = max(2, (2 * ticks) // 3)  # when the foundation withdraws

    def react(self, k: int, now: int, states: dict[str, MemberState]) -> None:
        w = self.world
        for n, m in w.members.items():
            s = states[n]
            short = max(s.im - s.equity, 0) + s.debt
            if w.status.get(m.account) == "defaulted" or short <= 0 or m.wallet <= 0:
                continue
            amount = min(m.wallet, (short * 1.25 + 0.1 * s.im) / USD)
            units = round(amount * USD)
            w.vault.deposit(m.payer, m.spec.address, 0, units)
            m.wallet -= units / USD
            self.journal.event("deposit", n, f"{n} tops up ${units / USD:,.0f} USDC (collateral below IM)", units / USD)
        if k == self.safe_at:
            self._safe_withdrawal(now)
        if k == self.eoa_at:
            self._eoa_withdrawal()
        for wd in list(self.withdrawals):
            if now >= wd.ready_at:
                try:
                    w.vault.execute_withdrawal(w.operator, wd.id)
                    self.journal.event(
                        "withdrawal",
                        wd.member,
                        f"{wd.member}'s withdrawal #{wd.id} of ${wd.amount:,.0f} executed after the delay",
                        wd.amount,
                    )
                except RevertedError as exc:
                    self.journal.event(
                        "withdrawal", wd.member, f"withdrawal #{wd.id} refused at execution: {exc.error}"
                    )
                self.withdrawals.remove(wd)

    def bidders(self) -> list[dm.Bidder]:
        out = []
        for n, m in self.world.members.items():
            terms = BIDDING.get(str(m.profile.strategy))
            if terms is None or not self.world.active(n) or m.safe is not None:
                continue
            share, edge, skip = terms
            out.append(dm.Bidder(n, m.spec.address, m.spec.key, share, edge, skip))
        return out

    def _withdrawable(self, m: Member) -> int:
        free = self.world.vault.free_collateral(m.account)
        cash = self.world.vault.balance(m.account, 0)
        return max(0, min(free, cash) * 4 // 10 // (1_000 * USD) * (1_000 * USD))

    def _safe_withdrawal(self, now: int) -> None:
        w = self.world
        m = next((x for x in w.members.values() if x.safe is not None), None)
        if m is None or m.safe is None:
            return
        amount = self._withdrawable(m)
        if amount <= 0:
            self.journal.event("withdrawal", m.name, f"{m.name} has no free collateral to withdraw")
            return
        treasury = m.payer.address
        req = WithdrawalRequest(
            member=m.spec.address,
            asset=0,
            amount=amount,
            to=treasury,
            nonce=int(w.vault.contract.functions.withdrawalNonce(m.spec.address).call()),
            deadline=now + HOUR,
        )
        digest = req.digest(w.vault.domain)
        onchain = bytes(w.vault.contract.functions.withdrawalRequestDigest(req.as_call_args()).call())
        if onchain != digest:
            raise RuntimeError("the vault's withdrawal digest differs from offchain/core/withdrawal.py")
        try:  # one owner is not the Safe: the vault asks the Safe (EIP-1271), which refuses
            w.operator.prepare(
                w.vault.contract.functions.requestWithdrawalBySig(req.as_call_args(), m.safe.sign_1271(digest, 1))
            )
            self.journal.event(
                "alert", m.name, "a withdrawal signed by one Safe owner was ACCEPTED: this must not happen"
            )
        except RevertedError as exc:
            self.journal.event(
                "withdrawal",
                m.name,
                f"a request signed by 1 of the Safe's 3 owners is refused by the vault ({exc.error})",
            )
        wid = w.vault.request_withdrawal_by_sig(w.operator, req, m.safe.sign_1271(digest))
        info = w.vault.withdrawal(wid)
        self.withdrawals.append(PendingWithdrawal(m.name, wid, amount / USD, info.ready_at, "eip1271"))
        self.journal.event(
            "withdrawal",
            m.name,
            f"{m.name} (Safe, 2 of 3 owners, EIP-1271) requests a withdrawal of ${amount / USD:,.0f}: "
            f"relayed by anyone, checked against its posted IM, executable after the 1 h delay",
            amount / USD,
        )

    def _eoa_withdrawal(self) -> None:
        w = self.world
        m = next((x for x in w.members.values() if x.profile.kind == "foundation"), None)
        if m is None:
            return
        amount = self._withdrawable(m)
        if amount <= 0:
            return
        wid = w.vault.request_withdrawal(m.payer, 0, amount, m.payer.address)
        self.withdrawals.append(PendingWithdrawal(m.name, wid, amount / USD, w.vault.withdrawal(wid).ready_at, "eoa"))
        self.journal.event(
            "withdrawal",
            m.name,
            f"{m.name} requests a withdrawal of ${amount / USD:,.0f} of free collateral",
            amount / USD,
        )
