"""The default fund's pool and defaults, re-implemented from DefaultFund.sol (docs/contracts.md, "Defaults
and the waterfall") for the auditor's replay.

Members' contributions are shares of one pool: a contribution's value is floor(shares × pool value / pool
shares); a contribution mints shares at the pool's price, a removal burns ceil(amount × shares / value)
(all of them for the whole value), a layer-4 draw lowers the pool's value only. A pool drawn to zero value
(or to dust: below 1 unit per 10^6 shares) with shares left is worthless: the next contribution starts a new
epoch, its dust stays in the pool for the new epoch, and old shares count for nothing
(reset lazily, when a stake is next touched). Each DECLARE stores the pool (value, shares, epoch) and
gets a number; a stake is snapshotted on its first change after a DECLARE, so the assessment cap of a
member for a default (ASSESSMENT_CAP_MULTIPLE × its contribution value at that DECLARE) reads the stake as
it stood then. Every function raises `FundError` exactly where the vault reverts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.core.waterfall import ASSESSMENT_CAP_MULTIPLE
from offchain.errors import CrossclearError

UINT128_MAX = 2**128 - 1
# DefaultFund.MAX_SHARES_PER_UNIT: a pool whose price fell below 1 unit per this many shares counts as drawn
# to dust, and the next contribution starts a new epoch (issue 11, fourth review, finding 10).
MAX_SHARES_PER_UNIT = 10**6


class FundError(CrossclearError):
    """A pool or default operation the vault would have refused."""


@dataclass
class Stake:
    shares: int = 0
    epoch: int = 0
    touched: int = 0  # the DECLARE count at its last change


@dataclass(frozen=True)
class DefaultRecord:
    pool_value: int
    pool_shares: int
    index: int
    epoch: int
    open: bool


@dataclass
class FundState:
    value: int = 0
    shares: int = 0
    epoch: int = 0
    declares: int = 0
    open: int = 0
    stakes: dict[int, Stake] = field(default_factory=dict)
    snapshots: dict[int, Stake] = field(default_factory=dict)
    defaults: dict[int, DefaultRecord] = field(default_factory=dict)
    defaulted: set[int] = field(default_factory=set)  # ever declared
    assessed: dict[tuple[int, int], int] = field(default_factory=dict)  # (DECLARE index, member) -> Σ assessed

    # ------------------------------------------------------------ views

    def value_of(self, account: int) -> int:
        k = self.stakes.get(account)
        if k is None or k.epoch != self.epoch or self.shares == 0:
            return 0
        return k.shares * self.value // self.shares

    def is_open(self, account: int) -> bool:
        d = self.defaults.get(account)
        return d is not None and d.open

    def shares_at_declare(self, defaulter: int, member: int) -> int:
        """`member`'s pool shares as they stood at `defaulter`'s DECLARE (0 if of another epoch)."""
        d = self.defaults.get(defaulter)
        if d is None or d.pool_shares == 0:
            return 0
        k = self.stakes.get(member, Stake())
        if k.touched >= d.index:
            k = self.snapshots.get(member, Stake())
        return k.shares if k.epoch == d.epoch else 0

    def cap(self, defaulter: int, member: int) -> int:
        """ASSESSMENT_CAP_MULTIPLE × `member`'s contribution value at `defaulter`'s DECLARE."""
        d = self.defaults.get(defaulter)
        if d is None or d.pool_shares == 0:
            return 0
        return ASSESSMENT_CAP_MULTIPLE * (self.shares_at_declare(defaulter, member) * d.pool_value // d.pool_shares)

    def cap_left(self, defaulter: int, member: int) -> int:
        d = self.defaults.get(defaulter)
        if d is None or not d.open:
            return 0
        return max(self.cap(defaulter, member) - self.assessed.get((d.index, member), 0), 0)

    # ------------------------------------------------------------ contributions

    def _touch(self, account: int) -> Stake:
        k = self.stakes.setdefault(account, Stake())
        if k.touched != self.declares:
            self.snapshots[account] = Stake(k.shares, k.epoch, 0)
            k.touched = self.declares
        if k.epoch != self.epoch:
            k.shares, k.epoch = 0, self.epoch
        return k

    def contribute(self, account: int, amount: int) -> int:
        pool_value, pool_shares = self.value, self.shares
        # drawn to zero or to dust (below 1 unit per MAX_SHARES_PER_UNIT shares): a new epoch, as the vault does
        if pool_shares != 0 and pool_value * MAX_SHARES_PER_UNIT < pool_shares:
            self.epoch += 1
            pool_shares = 0
        k = self._touch(account)
        minted = amount if pool_shares == 0 else amount * pool_shares // pool_value
        pool_value += amount
        pool_shares += minted
        if pool_value > UINT128_MAX or pool_shares > UINT128_MAX:
            raise FundError(f"pool overflows uint128 ({pool_value}, {pool_shares})")
        k.shares += minted
        self.value, self.shares = pool_value, pool_shares
        return self.value_of(account)

    def remove(self, account: int, amount: int) -> int:
        available = self.value_of(account)
        if amount > available:
            raise FundError(f"account {account} removes {amount} from a contribution worth {available}")
        if amount == 0:
            return available
        k = self._touch(account)
        burnt = k.shares
        if amount != available:
            b = -(-(amount * self.shares) // self.value)
            burnt = min(b, k.shares)
        k.shares -= burnt
        self.shares -= burnt
        self.value -= amount
        return self.value_of(account)

    def draw(self, amount: int) -> None:
        if amount > self.value:
            raise FundError(f"layer 4 draws {amount} from a pool worth {self.value}")
        self.value -= amount

    # ------------------------------------------------------------ defaults

    def declare(self, account: int) -> None:
        if self.is_open(account):
            raise FundError(f"account {account} is already in default")
        self.declares += 1
        self.open += 1
        self.defaults[account] = DefaultRecord(self.value, self.shares, self.declares, self.epoch, True)
        self.defaulted.add(account)

    def close(self, account: int) -> None:
        d = self.defaults.get(account)
        if d is None or not d.open:
            raise FundError(f"account {account} is not in default")
        self.defaults[account] = DefaultRecord(d.pool_value, d.pool_shares, d.index, d.epoch, False)
        self.open -= 1

    def assess(self, defaulter: int, member: int, amount: int) -> None:
        d = self.defaults[defaulter]
        cap = self.cap(defaulter, member)
        total = self.assessed.get((d.index, member), 0) + amount
        if total > cap:
            raise FundError(f"account {member} assessed {total} in all for this default, above its cap {cap}")
        self.assessed[(d.index, member)] = total
