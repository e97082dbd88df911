"""The default fund's pool as the vault keeps it (contracts/src/libraries/DefaultFund.sol), for the engine's
waterfall plans: each member's pool shares, the pool and each stake as they stood at every DECLARE, and what
each member was already assessed for each default.

The vault exposes contribution VALUES (`contributionOf`) and the pool's (value, shares) only. A member's
shares cannot be recovered from its value once the pool has been drawn (layer 4 lowers the value, not the
shares, so floor(shares × value / total) loses them), yet the vault weighs and caps assessments by the
exact shares at DECLARE. The engine therefore replays the vault's own events into this book
(`offchain/defaults/chain.py` `VaultFundView.pool_book`: ContributionChanged, DefaultDeclared,
DefaultClosed, WaterfallDraw of layers 4 and 5), the same arithmetic as the library, and checks the result
against `defaultFundPool`/`contributionOf`. The auditor keeps its own, independent copy
(`offchain/audit/events/fund.py`).

Contributions mint shares at the pool's price; a removal burns ceil(amount × shares / value) (all of them
for the whole value); a layer-4 draw lowers the value only; a pool drawn to zero (or to dust: below 1 unit per
10^6 shares) with shares left starts a new epoch at the next contribution (old shares count for nothing; the
dust stays in the pool for the new epoch). A stake is snapshotted on its first
change after a DECLARE, so the stake at any DECLARE can be read back. Every method raises `PoolError`
where the vault reverts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from offchain.core.waterfall import ASSESSMENT_CAP_MULTIPLE, Pool
from offchain.errors import CrossclearError

# DefaultFund.MAX_SHARES_PER_UNIT: below 1 unit of value per this many shares the pool counts as drawn to dust
# and the next contribution starts a new epoch (issue 11, fourth review, finding 10).
MAX_SHARES_PER_UNIT = 10**6


class PoolError(CrossclearError):
    """An operation the vault would have refused, or a replay that disagrees with the vault's views."""


@dataclass
class Stake:
    shares: int = 0
    epoch: int = 0
    touched: int = 0  # the DECLARE count at its last change


@dataclass(frozen=True)
class Declared:
    """A default as the vault stores it at DECLARE."""

    pool_value: int
    pool_shares: int
    index: int  # the DECLARE's number (from 1)
    epoch: int
    open: bool


@dataclass
class PoolBook:
    value: int = 0
    shares: int = 0
    epoch: int = 0
    declares: int = 0
    stakes: dict[int, Stake] = field(default_factory=dict)
    snapshots: dict[int, Stake] = field(default_factory=dict)
    defaults: dict[int, Declared] = field(default_factory=dict)
    assessed: dict[tuple[int, int], int] = field(default_factory=dict)  # (DECLARE number, member) -> Σ

    # ------------------------------------------------------------ views

    def shares_of(self, account: int) -> int:
        """`account`'s pool shares now (0 if of a past epoch)."""
        k = self.stakes.get(account)
        return k.shares if k is not None and k.epoch == self.epoch else 0

    def value_of(self, account: int) -> int:
        """Its contribution value now: floor(shares × value / total shares), as `contributionOf`."""
        return self.shares_of(account) * self.value // self.shares if self.shares else 0

    def is_open(self, account: int) -> bool:
        d = self.defaults.get(account)
        return d is not None and d.open

    def declared(self, defaulter: int) -> Declared:
        d = self.defaults.get(defaulter)
        if d is None:
            raise PoolError(f"account {defaulter} was never declared in default on-chain")
        return d

    def pool_at_declare(self, defaulter: int) -> Pool:
        d = self.declared(defaulter)
        return Pool(d.pool_value, d.pool_shares)

    def shares_at_declare(self, defaulter: int, member: int) -> int:
        """`member`'s pool shares as they stood at `defaulter`'s DECLARE (0 if of another epoch)."""
        d = self.declared(defaulter)
        if d.pool_shares == 0:
            return 0
        k = self.stakes.get(member, Stake())
        if k.touched >= d.index:  # changed since that DECLARE: read it as it stood
            k = self.snapshots.get(member, Stake())
        return k.shares if k.epoch == d.epoch else 0

    def cap(self, defaulter: int, member: int) -> int:
        """ASSESSMENT_CAP_MULTIPLE × `member`'s contribution value at `defaulter`'s DECLARE."""
        d = self.declared(defaulter)
        at_declare = Pool(d.pool_value, d.pool_shares).value_of(self.shares_at_declare(defaulter, member))
        return ASSESSMENT_CAP_MULTIPLE * at_declare

    def cap_left(self, defaulter: int, member: int) -> int:
        """What `member` may still be assessed for `defaulter`'s open default (the vault's `capOf`)."""
        d = self.declared(defaulter)
        if not d.open:
            return 0
        return max(self.cap(defaulter, member) - self.assessed.get((d.index, member), 0), 0)

    # ------------------------------------------------------------ changes, as DefaultFund.sol

    def _touch(self, account: int) -> Stake:
        k = self.stakes.setdefault(account, Stake())
        if k.touched != self.declares:
            self.snapshots[account] = Stake(k.shares, k.epoch, 0)
            k.touched = self.declares
        if k.epoch != self.epoch:
            k.shares, k.epoch = 0, self.epoch
        return k

    def contribute(self, account: int, amount: int) -> int:
        # drawn to zero or to dust (DefaultFund.MAX_SHARES_PER_UNIT): old shares are worthless, the dust stays
        if self.shares != 0 and self.value * MAX_SHARES_PER_UNIT < self.shares:
            self.epoch += 1
            self.shares = 0
        k = self._touch(account)
        minted = amount if self.shares == 0 else amount * self.shares // self.value
        self.value += amount
        self.shares += minted
        k.shares += minted
        return self.value_of(account)

    def remove(self, account: int, amount: int) -> int:
        available = self.value_of(account)
        if amount > available:
            raise PoolError(f"account {account} removes {amount} from a contribution worth {available}")
        if amount == 0:
            return available
        k = self._touch(account)
        burnt = k.shares
        if amount != available:
            burnt = min(-(-(amount * self.shares) // self.value), k.shares)
        k.shares -= burnt
        self.shares -= burnt
        self.value -= amount
        return self.value_of(account)

    def draw(self, amount: int) -> None:
        if amount > self.value:
            raise PoolError(f"layer 4 draws {amount} from a pool worth {self.value}")
        self.value -= amount

    def declare(self, account: int) -> None:
        if self.is_open(account):
            raise PoolError(f"account {account} is already in default")
        self.declares += 1
        self.defaults[account] = Declared(self.value, self.shares, self.declares, self.epoch, True)

    def close(self, account: int) -> None:
        d = self.declared(account)
        if not d.open:
            raise PoolError(f"account {account} is not in default")
        self.defaults[account] = replace(d, open=False)

    def assess(self, defaulter: int, member: int, amount: int) -> None:
        if member == defaulter or self.is_open(member):
            raise PoolError(f"assessment of account {member}, which is in default")
        d = self.declared(defaulter)
        total = self.assessed.get((d.index, member), 0) + amount
        if total > self.cap(defaulter, member):
            raise PoolError(f"account {member} assessed {total} for this default, above its cap")
        self.assessed[(d.index, member)] = total
