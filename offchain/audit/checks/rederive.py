"""Margin requirements and haircuts re-derived by re-running the published risk model (`im-rederive`).

For every batch that carries a context, posts requirements or posts collateral marks, the verifier:
 - rebuilds the model from the batch's published model record (offchain/audit/model.py) and checks that
   what it rebuilt hashes to the record's `data_hash` (`model`), and that the record's inputs agree with
   the chain: each instrument of the universe is registered with the same kind and underlying, each listed
   asset is in the collateral list with the vault's decimals (`model-inputs`);
 - checks every collateral haircut in force (with a price) is at least the model's base haircut for the
   asset (`haircut`);
 - re-derives every member's IM and MM from the positions after the batch (the auditor's own, from the
   published fills), the marks last settled (the published contexts), the member's tier in the registry,
   the collateral prices in force and the member's holdings, and compares the requirement in force after
   the batch: IM below the model's (`im-rederive`), MM below the model's (`mm-rederive`), or IM above
   `IM_OVERSTATE_FACTOR` times the model's (`im-overstated`: a requirement that freezes a member's
   withdrawals for no risk). A member with an open exit request and no position after the batch may have
   IM 0 / MM 0 in force: the engine serves its exit (offchain/chain/exits.py; what the model asks of a flat
   member is only the concentration part of its collateral's haircut, which covers nothing without
   obligations). Under the rise cap (the model's `max_daily_rise`, docs/risk.md) the engine may
   phase a rise in, so the lower bound is the member's stressed floor (the IM with its core at the
   stressed-period measure; equal to the model's IM whenever that measure is the larger). The cap's exact
   value (from the day-start reference) is not re-derived.

The engine reads holdings when it builds a batch, some time between the previous batch and this one; a
deposit or withdrawal request in between moves the concentration part of a haircut. So the model is run at
the lowest and the highest non-cash holdings of that window (the haircut grows with the holding): the
lower bound is checked against the low run, the upper against the high one. Tolerance for rounding (the
model's floats on another machine's BLAS): `1 + x // 1_000_000` base units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import AssetMark, VaultReplay
from offchain.audit.model import MarginRederivation, ModelInputError, RebuiltModel, Rederived, rebuild, record_inputs
from offchain.audit.published import PublishedBatch
from offchain.chain.registry import RegistryState
from offchain.core.batch import SETTLEMENT_ASSET, Batch
from offchain.core.context import BatchContext

IM_OVERSTATE_FACTOR = 2


def tolerance(units: int) -> int:
    return 1 + units // 1_000_000


@dataclass
class HoldingWindow:
    """Non-cash balances between two batches: the lowest and highest each reached (keys that moved)."""

    low: dict[tuple[int, int], int] = field(default_factory=dict)
    high: dict[tuple[int, int], int] = field(default_factory=dict)
    # account -> the lowest settlement cash it held (accounts whose cash moved): the least cash the engine can
    # have read for a contribution top-up (checks/contributions.py); cash has no concentration haircut
    cash_low: dict[int, int] = field(default_factory=dict)

    def moved(self, key: tuple[int, int], before: int, after: int) -> None:
        if key[1] == SETTLEMENT_ASSET:
            self.cash_low[key[0]] = min(self.cash_low.get(key[0], before), after)
            return
        self.low[key] = min(self.low.get(key, before), after)
        self.high[key] = max(self.high.get(key, before), after)

    def bounds(
        self, balances: Mapping[tuple[int, int], int]
    ) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
        low, high = dict(balances), dict(balances)
        for k, v in self.low.items():
            low[k] = min(v, balances.get(k, 0))
        for k, v in self.high.items():
            high[k] = max(v, balances.get(k, 0))
        return low, high

    def reset(self) -> None:
        self.low.clear()
        self.high.clear()
        self.cash_low.clear()


@dataclass(frozen=True)
class MarginState:
    """What a batch's margin is re-derived from, as it stood before the batch's rows and transfers: the
    collateral marks in force and the lowest and highest holdings the engine may have read."""

    marks: dict[int, AssetMark]
    holdings: tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]


@dataclass(frozen=True)
class Expected:
    """A batch's re-derived requirements, checked once the batch's rows are posted."""

    sequence: int
    low: dict[int, Rederived | str]
    high: dict[int, Rederived | str]
    flat_exits: frozenset[int] = frozenset()  # members with an open exit request and no position after the batch


class MarginVerifier:
    def __init__(self, registry: RegistryState, settlement_decimals: int = 6) -> None:
        self.registry = registry
        self.settlement_decimals = settlement_decimals
        self._checked_inputs: set[str] = set()
        self._checksummed: dict[str, str] = {}
        self.model: RebuiltModel | None = None  # the last batch's (price checks read its collateral list)

    def model_of(self, batch: Batch, published: PublishedBatch, vault: VaultReplay) -> RebuiltModel | None:
        """The rebuilt model of a batch, checked against its record and the chain; None for a batch that
        neither settles (no context) nor posts requirements or marks."""
        seq, record = batch.sequence, published.model
        if record is None:
            if published.context is None and not batch.requirements and not batch.marks:
                return None
            raise Discrepancy(seq, "model", "the batch publishes no risk-model record to re-derive its margin from")
        text = record_inputs(record)
        if text is None:
            raise Discrepancy(seq, "model", f"model record {record.get('version')} publishes no inputs")
        try:
            rebuilt = rebuild(text)
        except ModelInputError as exc:
            raise Discrepancy(seq, "model", str(exc)) from exc
        days = 0 if rebuilt.inputs.ledger is None else len(rebuilt.inputs.ledger.dates)
        if record.get("ledger_days", "0") != str(days):
            raise Discrepancy(
                seq,
                "model",
                f"model {record.get('version')} says it is calibrated on {record.get('ledger_days')} ledger days, "
                f"its inputs publish the closes of {days}",
            )
        if rebuilt.data_hash != record.get("data_hash"):
            raise Discrepancy(
                seq,
                "model",
                f"the published inputs rebuild a model with data hash {rebuilt.data_hash[:16]}, the batch's record "
                f"says {str(record.get('data_hash'))[:16]}",
            )
        if text not in self._checked_inputs:
            self._inputs_against_chain(seq, rebuilt, vault)
            self._checked_inputs.add(text)
        self.model = rebuilt
        return rebuilt

    def _inputs_against_chain(self, seq: int, rebuilt: RebuiltModel, vault: VaultReplay) -> None:
        for name, kind, underlying in rebuilt.inputs.instruments:
            reg = self.registry.instruments.get(name)
            if reg is None or (reg.kind, reg.underlying) != (kind, underlying):
                said = None if reg is None else (reg.kind, reg.underlying)
                raise Discrepancy(
                    seq,
                    "model-inputs",
                    f"instrument {name} is modelled as {(kind, underlying)}, the registry has {said}",
                )
        collateral = {c.asset: c for c in rebuilt.inputs.collateral}
        for asset, mark in sorted(vault.marks.items()):
            c = collateral.get(asset)
            if c is None or c.decimals != mark.decimals:
                raise Discrepancy(
                    seq,
                    "model-inputs",
                    f"listed asset {asset} ({mark.decimals} decimals) is "
                    + ("not in the model's collateral" if c is None else f"modelled with {c.decimals} decimals"),
                )
        if SETTLEMENT_ASSET in collateral and collateral[SETTLEMENT_ASSET].factor is not None:
            raise Discrepancy(seq, "model-inputs", "the settlement asset is modelled with a risk factor")

    def _tier_at(self, address: str, ts_s: int) -> str | None:
        """`RegistryState.tier_at` without checksumming the address at every batch (a keccak each)."""
        key = self._checksummed.get(address)
        if key is None:
            key = self._checksummed[address] = str(to_checksum_address(address))
        for since, tier in reversed(self.registry.tiers.get(key, ())):
            if since <= ts_s:
                return tier
        return None

    def check_haircuts(self, seq: int, rebuilt: RebuiltModel, vault: VaultReplay) -> None:
        base = rebuilt.base_haircut_bps()
        for asset, mark in sorted(vault.marks.items()):
            if mark.price and mark.haircut_bps < base.get(asset, 10_000):
                raise Discrepancy(
                    seq,
                    "haircut",
                    f"asset {asset}: haircut {mark.haircut_bps} bps in force, the model's is {base.get(asset)} bps",
                )

    def _book(
        self,
        batch: Batch,
        rebuilt: RebuiltModel,
        positions: Mapping[tuple[int, str], int],
        vault: VaultReplay,
        check: str,
    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]], dict[tuple[int, str], int], dict[str, int]]:
        """The members with their registry tiers at asOf (lightest, heaviest for one with none), the open
        positions and the quantity decimals of their instruments at asOf."""
        seq, as_of = batch.sequence, batch.as_of
        # A member with no tier in the registry (the operator's house account, a member admitted before its
        # tier was registered) is bounded by the tier table: the lightest tier for the lower bound, the
        # heaviest for the upper.
        tiers = rebuilt.config.tiers
        lightest = min(tiers, key=lambda t: t.im_multiplier).name
        heaviest = max(tiers, key=lambda t: t.im_multiplier).name
        members_low, members_high = [], []
        for account, address in sorted(vault.accounts.items()):
            tier = self._tier_at(address, as_of)
            members_low.append((account, tier or lightest))
            members_high.append((account, tier or heaviest))
        held = {k: q for (k, q) in positions.items() if q}
        decimals: dict[str, int] = {}
        for _, name in held:
            terms = self.registry.terms_at(name, as_of)
            if terms is None:
                raise Discrepancy(seq, check, f"instrument {name} has no registered terms at asOf {as_of}")
            decimals[name] = terms.qty_decimals
        return members_low, members_high, held, decimals

    def contribution_targets(
        self,
        batch: Batch,
        rebuilt: RebuiltModel,
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        vault: VaultReplay,
        holdings: tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]],
    ) -> dict[int, tuple[int, int]]:
        """Each member's Cover-2 target as a range (`contribution`): sized at the lightest tier and the lowest
        holdings, and at the heaviest tier and the highest holdings, with the IM in force after the batch."""
        members_low, members_high, held, decimals = self._book(batch, rebuilt, positions, vault, "contribution")
        cprices = {a: m.price for a, m in vault.marks.items()}
        im = {a: r[0] for a, r in vault.requirements.items()}
        calc = MarginRederivation(rebuilt, self.settlement_decimals)
        low_h, high_h = holdings
        try:
            low = calc.cover2_targets(members_low, held, decimals, marks, im, low_h, cprices)
            same = low_h == high_h and members_low == members_high
            high = low if same else calc.cover2_targets(members_high, held, decimals, marks, im, high_h, cprices)
        except (ModelInputError, KeyError) as exc:
            raise Discrepancy(batch.sequence, "contribution", f"cannot size the default fund: {exc}") from exc
        return {a: (min(low[a], high[a]), max(low[a], high[a])) for a in low}

    def rederive(
        self,
        batch: Batch,
        rebuilt: RebuiltModel,
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        vault: VaultReplay,
        holdings: tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]],
    ) -> Expected:
        """Re-derived requirements of every member at the batch: positions after it, collateral prices in
        force after it (`vault`), holdings (low, high) before its transfers."""
        seq = batch.sequence
        members_low, members_high, held, decimals = self._book(batch, rebuilt, positions, vault, "im-rederive")
        cprices = {a: m.price for a, m in vault.marks.items()}
        low_h, high_h = holdings
        calc = MarginRederivation(rebuilt, self.settlement_decimals)
        try:
            low = calc.requirements(members_low, held, decimals, marks, low_h, cprices)
            same = low_h == high_h and members_low == members_high
            high = low if same else calc.requirements(members_high, held, decimals, marks, high_h, cprices)
        except (ModelInputError, KeyError) as exc:
            raise Discrepancy(seq, "im-rederive", f"cannot re-derive margin: {exc}") from exc
        holders = {a for a, _ in held}
        return Expected(seq, low, high, frozenset(a for a in vault.exits if a not in holders))

    @staticmethod
    def compare(expected: Expected, vault: VaultReplay) -> None:
        """The requirements in force after the batch against the re-derived ones."""
        seq = expected.sequence
        for account in sorted(expected.low):
            low, high = expected.low[account], expected.high[account]
            if isinstance(low, str) or isinstance(high, str):
                continue  # no base units for this member: the engine keeps its last requirement (and alerts)
            im, mm = vault.requirements.get(account, (0, 0))
            if (im, mm) == (0, 0) and account in expected.flat_exits:
                continue  # an exit served: a flat member owes nothing its collateral's concentration must cover
            # Under the rise cap the engine may post less than the model, down to the stressed floor.
            least_im = low.im if low.floor_im is None else low.floor_im
            least_mm = low.mm if low.floor_mm is None else low.floor_mm
            capped = "" if low.floor_im is None else f" (stressed floor {least_im} under the rise cap)"
            if im < least_im - tolerance(least_im):
                raise Discrepancy(
                    seq, "im-rederive", f"account {account}: IM {im} in force, the model re-derives {low.im}{capped}"
                )
            if mm < least_mm - tolerance(least_mm):
                raise Discrepancy(
                    seq, "mm-rederive", f"account {account}: MM {mm} in force, the model re-derives {low.mm}{capped}"
                )
            bound = IM_OVERSTATE_FACTOR * high.im + tolerance(high.im)
            if im > bound:
                raise Discrepancy(
                    seq,
                    "im-overstated",
                    f"account {account}: IM {im} in force, above {IM_OVERSTATE_FACTOR}x the model's {high.im}",
                )


def last_marks(book_marks: Mapping[str, tuple[int, int]], ctx: BatchContext | None) -> dict[str, int]:
    """The marks margin is computed at: each instrument's last settled mark (this batch's included)."""
    out = {name: mark for name, (mark, _) in book_marks.items()}
    if ctx is not None:
        out.update(ctx.marks)
    return out
