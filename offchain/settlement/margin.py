"""Margin requirements and collateral marks for a batch, from the risk engine (offchain/risk), and the
live model's recalibration from the ledger.

Recalibration (docs/risk.md, "Recalibration"): the shipped history only seeds the look-back; after it
come the ledger's daily index closes (the index rule over each source's daily candle). At every batch
the engine closes the candles of finished intervals and, once ``every_days`` new complete days are in,
recalibrates. A model whose data ends more than ``max_age_ms`` before now refuses to margin
(:class:`StaleCalibrationError`; the builder alerts and builds no batch): never a silent clamp to old data.
Every batch records the model version and the content hash of its calibration data.

The IM rise cap (``MarginConfig.max_daily_rise``, docs/risk.md "The rise cap in the live margin run"): the
posted IM rises at most 25 % a day over the member's IM at the start of the day (scaled by the growth of its
book's stressed floor), never below that floor; the builder passes the day-start reference it reads from the
ledger (offchain/ledger/margin_history.py).

The vault checks withdrawals with one haircut per asset, so it gets each asset's base haircut (that
of a small holding), rounded up to a basis point. The extra haircut a member's large holding earns
(the concentration term of the haircut model) is added to that member's posted IM instead, so the
on-chain check is never looser than the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from offchain.core.batch import Mark
from offchain.core.obligations import InstrumentSpec
from offchain.ledger.handles import Connection
from offchain.ledger.market import close_candles
from offchain.ledger.market import load_candles as load_ledger_candles
from offchain.ledger.prices import first_mark_ms
from offchain.marketdata.candles import DAY_MS, index_closes
from offchain.marketdata.index import IndexRule
from offchain.risk import (
    CollateralAsset,
    HaircutModel,
    MarginConfig,
    RiskModel,
    ScenarioConfig,
    Universe,
    build_haircuts,
    build_model,
    build_scenarios,
    compute_margin,
    filter_history,
)
from offchain.risk.calibration import (
    DATA_DIR,
    MODEL_ID,
    MODEL_REVISION,
    content_hash,
    ledger_days,
    load_seed,
    model_factors,
    proxies_in,
    splice,
)
from offchain.risk.errors import ConfigError, RiskError
from offchain.risk.instruments import risk_universe
from offchain.risk.limits import LimitBreach, check_position_limit
from offchain.risk.marketdata import PriceHistory
from offchain.risk.platform import CollateralStress
from offchain.risk.risecap import capped_requirements, stress_floor
from offchain.risk.units import units_per_row


@dataclass(frozen=True)
class CollateralSpec:
    asset: int  # vault asset number
    symbol: str  # token symbol, e.g. WETH
    decimals: int
    factor: str | None  # risk factor it moves with (e.g. "ETH"); None for the settlement asset
    horizon_days: float = 2.0
    floor: float = 0.0  # minimum haircut (e.g. a T-bill fund share's redemption risk)
    tiers: tuple[str, ...] | None = None  # names of the member tiers that may post it (None: every tier)
    max_share: float = 1.0  # cap on its share of a member's haircut collateral value

    def __post_init__(self) -> None:
        # A sorted tuple whatever the settings gave (a list, a set): the spec's repr is part of the settings
        # text the model's data hash covers, and a set's order changes from one process to the next (string
        # hashing is randomised), so the engine and the verifier must write the same text for the same tiers.
        if self.tiers is not None:
            object.__setattr__(self, "tiers", tuple(sorted(set(self.tiers))))

    def tier_indices(self, config: MarginConfig) -> frozenset[int] | None:
        """The eligible tiers as indices into ``config.tiers`` (what the haircut model tests members by)."""
        if self.tiers is None:
            return None
        names = [t.name for t in config.tiers]
        unknown = sorted(set(self.tiers) - set(names))
        if unknown:
            raise ConfigError(f"collateral {self.symbol}: unknown tiers {unknown}; the tier table has {names}")
        return frozenset(i for i, n in enumerate(names) if n in self.tiers)


@dataclass(frozen=True)
class MemberMargin:
    im: int  # settlement base units, rounded up
    mm: int
    collateral_value: int  # haircut value, rounded down (the model's own per-member haircuts)
    es_core: float
    concentration_addon: float
    liquidity_addon: float
    haircut_bps: dict[int, int] = field(default_factory=dict)  # asset -> the model's haircut for this holding
    error: str | None = None  # set when this member's amounts have no base units (its numbers are unusable)
    model_im: int | None = None  # the model's IM before the rise cap (None: not computed, as `im`)
    stress_floor: int | None = None  # the IM with the core at its stressed-period measure: the cap never goes below


class StaleCalibrationError(RiskError):
    """The model's calibration data ends longer ago than the governed limit: no margin on it."""


@dataclass(frozen=True)
class Calibration:
    """What a model was calibrated on: recorded with every batch.

    version: model id, revision, last data day and hash prefix. data_hash: SHA-256 of the data and
    settings (:func:`offchain.risk.calibration.content_hash`). last_day: the last close's day label.
    data_end_ms: the instant (on the ledger's clock) of the last close. ledger_days: days from the ledger.
    """

    version: str
    data_hash: str
    last_day: str
    data_end_ms: int
    ledger_days: int = 0
    notes: tuple[str, ...] = ()
    # Canonical JSON of what the model was built from (seed end, risk universe, collateral, the ledger's daily
    # closes after the seed): published with
    # every batch so that a verifier rebuilds the model and checks `data_hash` (offchain/audit/model.py).
    inputs: str = ""

    def record(self) -> dict[str, str]:
        return {
            "version": self.version,
            "data_hash": self.data_hash,
            "last_day": self.last_day,
            "data_end_ms": str(self.data_end_ms),
            "ledger_days": str(self.ledger_days),
            "inputs": self.inputs,
        }


@dataclass(frozen=True)
class CalibrationPolicy:
    """Governed schedule and limit of recalibration.

    every_days: recalibrate once this many new complete days of ledger closes are in (daily by default).
    max_age_ms: refuse to margin when the calibration data ends longer ago than this.
    index_rule: the rule that turns sources' daily candles into one close (the marks' rule).
    seed_end_ms: the instant the seed's last close stands for on the ledger's clock. ``None`` places it
        at the ledger's first price observation (devnet, demo and replays replay history "now"); a
        production engine passes the real close time of the seed's last day, so an old seed is stale.
    """

    every_days: int = 1
    max_age_ms: int = 2 * DAY_MS
    index_rule: IndexRule = field(default_factory=IndexRule)
    seed_end_ms: int | None = None

    def __post_init__(self) -> None:
        if self.every_days < 1 or self.max_age_ms < DAY_MS:
            raise ValueError("need every_days >= 1 and max_age_ms >= one day")


class RiskEngineMargin:
    """Adapter from integer ledger state to the risk engine's arrays and back."""

    def __init__(
        self,
        model: RiskModel,
        haircut_model: HaircutModel,
        config: MarginConfig,
        instruments: Mapping[str, InstrumentSpec],
        collateral: Sequence[CollateralSpec],
        settlement_decimals: int = 6,
        calibration: Calibration | None = None,
        recalibrator: Recalibrator | None = None,
    ) -> None:
        self.model = model
        self.haircut_model = haircut_model
        self.config = config
        self.instruments = dict(instruments)
        self.collateral = tuple(collateral)
        self.scale = 10**settlement_decimals
        self.columns = {name: model.universe.index(name) for name in instruments}
        self.tier_index = {t.name: i for i, t in enumerate(config.tiers)}
        self.calibration = calibration
        self.recalibrator = recalibrator

    def position_limit(self, tier: str, instrument: str, before: int, after: int) -> LimitBreach | None:
        """The tier-table limit check of a fill moving a member's net position in ``instrument`` from
        ``before`` to ``after`` (ledger quantity units): what ingest calls before accepting it."""
        if tier not in self.tier_index:
            raise ValueError(f"unknown tier {tier!r}")
        scale = 10 ** self.instruments[instrument].qty_decimals
        depth = float(self.model.depth[self.columns[instrument]])
        return check_position_limit(
            self.config.tiers[self.tier_index[tier]], instrument, before / scale, after / scale, depth
        )

    def refresh(self, conn: Connection, now_ms: int) -> None:
        """Recalibrate if the schedule says so; raise StaleCalibrationError if the data is too old."""
        if self.recalibrator is None:
            return
        current = self.recalibrator.place_seed(conn, now_ms, self.calibration)
        fresh = self.recalibrator.refresh(conn, now_ms, current)
        if fresh is None:
            self.calibration = current
        else:
            self.model, self.haircut_model, self.calibration = fresh
        self.recalibrator.check_age(self.calibration, now_ms)

    def base_haircut_bps(self) -> dict[int, int]:
        return {
            c.asset: math.ceil(float(h) * 10_000) for c, h in zip(self.collateral, self.haircut_model.base, strict=True)
        }

    def collateral_marks(self, prices: Mapping[int, int]) -> list[Mark]:
        """The vault's per-asset marks: price per whole token and the base haircut."""
        bps = self.base_haircut_bps()
        return [
            Mark(asset=c.asset, haircut_bps=min(bps[c.asset], 10_000), price=prices[c.asset]) for c in self.collateral
        ]

    def member_tiers(self, members: Sequence[tuple[int, str]]) -> NDArray[np.int64]:
        """(M,) index into the tier table of each member ``(account, tier)``."""
        return np.array([self.tier_index[tier] for _, tier in members], dtype=np.int64)

    def collateral_arrays(
        self,
        members: Sequence[tuple[int, str]],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """((M, A) whole tokens held, (A,) price per token) of the members' collateral, in model units."""
        held = np.zeros((len(members), len(self.collateral)))
        for k, c in enumerate(self.collateral):
            for r, (account, _) in enumerate(members):
                held[r, k] = holdings.get((account, c.asset), 0) / 10**c.decimals
        cprices = np.array([collateral_prices[c.asset] / self.scale for c in self.collateral], dtype=np.float64)
        return held, cprices

    def collateral_stress(
        self,
        members: Sequence[tuple[int, str]],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> CollateralStress:
        """The members' collateral for Cover 2 (its fall beyond the haircut in the same stressed scenarios
        as the positions: wrong-way risk), haircut as in the margin run (eligibility and caps included)."""
        held, cprices = self.collateral_arrays(members, holdings, collateral_prices)
        return CollateralStress.of(held, cprices, self.haircut_model, self.member_tiers(members))

    def requirements(
        self,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
        reference: Mapping[int, tuple[int, int]] | None = None,
    ) -> dict[int, MemberMargin]:
        """IM/MM (base units) of every member `(account, tier)` at the given marks and holdings.

        With a rise cap (``config.max_daily_rise``) and ``reference`` (account -> (IM posted, stressed floor) at the
        start of the day, :func:`offchain.ledger.margin_history.margin_before`), the posted IM is
        :func:`offchain.risk.risecap.capped_requirements` of the model's: a rise beyond the cap is phased in,
        never below the stressed floor; MM follows as ``mm_fraction`` of it."""
        m, n_i = len(members), len(self.model.universe)
        row = {account: k for k, (account, _) in enumerate(members)}
        q = np.zeros((m, n_i))
        for (account, instrument), qty in positions.items():
            if account in row:
                q[row[account], self.columns[instrument]] += qty / 10 ** self.instruments[instrument].qty_decimals
        prices = np.zeros(n_i)
        for instrument, col in self.columns.items():
            if instrument in marks:
                prices[col] = marks[instrument] / self.scale
        missing = np.flatnonzero((prices == 0) & np.any(q != 0, axis=0))
        if missing.size:
            raise ValueError(f"positions without a mark: {[self.model.universe.names[i] for i in missing]}")
        prices[prices == 0] = 1.0  # no position and no mark: any positive price gives zero risk
        held, cprices = self.collateral_arrays(members, holdings, collateral_prices)
        tiers = self.member_tiers(members)
        result = compute_margin(q, prices, held, cprices, tiers, self.model, self.haircut_model, self.config)
        # Concentration part of the collateral haircut, charged through IM (see module docstring).
        extra = (held * cprices * np.maximum(result.haircuts - self.haircut_model.base, 0.0)).sum(axis=1)
        addons = result.concentration_addon + result.liquidity_addon
        floor = stress_floor(result.es_core, result.es_stress, addons, self.config.tiers, tiers)
        floor_units, floor_ok = units_per_row(floor, self.config.decimals, up=True)
        out: dict[int, MemberMargin] = {}
        for account, r in row.items():
            error = result.unit_error(r)
            if error is not None or not math.isfinite(float(extra[r])):
                out[account] = MemberMargin(
                    0, 0, 0, 0.0, 0.0, 0.0, error=f"account {account}: {error or 'haircut overflow'}"
                )
                continue
            extra_units = math.ceil(float(extra[r]) * self.scale)
            model_im = int(result.im_units[r]) + extra_units
            floor_im = min(int(floor_units[r]), int(result.im_units[r])) + extra_units if floor_ok[r] else model_im
            im, mm = self._capped(
                model_im, int(result.mm_units[r]) + extra_units, floor_im, extra_units, account, reference
            )
            out[account] = MemberMargin(
                im=im,
                mm=mm,
                collateral_value=int(result.collateral_units[r]),
                es_core=float(result.es_core[r]),
                concentration_addon=float(result.concentration_addon[r]),
                liquidity_addon=float(result.liquidity_addon[r]),
                haircut_bps={
                    c.asset: math.ceil(float(result.haircuts[r, k]) * 10_000) for k, c in enumerate(self.collateral)
                },
                model_im=model_im,
                stress_floor=floor_im,
            )
        return out

    def _capped(
        self,
        model_im: int,
        model_mm: int,
        floor: int,
        extra: int,
        account: int,
        reference: Mapping[int, tuple[int, int]] | None,
    ) -> tuple[int, int]:
        """(IM, MM) posted for one member under the rise cap (the model's when there is no cap or reference)."""
        cap = self.config.max_daily_rise
        ref = None if reference is None or cap is None else reference.get(account)
        if ref is None or cap is None:
            return model_im, model_mm
        posted = capped_requirements(
            np.array([float(model_im)]),
            np.array([float(floor)]),
            np.array([float(ref[0])]),
            np.array([float(ref[1])]),
            cap,
        )[0]
        if posted >= model_im:
            return model_im, model_mm
        im = max(floor, math.ceil(posted))  # base units, rounded up: never below the floor
        return im, min(model_mm, math.ceil(self.config.mm_fraction * (im - extra)) + extra)


def universe_of(instruments: Mapping[str, InstrumentSpec]) -> Universe:
    """The risk engine's view of the ledger's cleared instruments (the rule the auditor rebuilds it with too)."""
    return risk_universe((s.name, s.kind, s.underlying) for s in instruments.values())


def ledger_symbols(instruments: Mapping[str, InstrumentSpec], factors: Sequence[str]) -> dict[str, str]:
    """The ledger symbol whose index is each factor: spot ``X`` is ``X``; ``X-PERP`` is X's perpetual."""
    out: dict[str, str] = {}
    for f in factors:
        if f.endswith("-PERP"):
            under = f.removesuffix("-PERP")
            perps = sorted(s.name for s in instruments.values() if s.kind == "perp" and s.underlying == under)
            out[f] = perps[0] if perps else f"{under}-USD-PERP"
        else:
            out[f] = f
    return out


class Recalibrator:
    """Rebuilds the model from the seed history plus the ledger's daily index closes (see module doc)."""

    def __init__(
        self,
        seed: PriceHistory,
        instruments: Mapping[str, InstrumentSpec],
        collateral: Sequence[CollateralSpec],
        config: MarginConfig,
        scenario_config: ScenarioConfig,
        policy: CalibrationPolicy,
        factors: Sequence[str],
    ) -> None:
        self.seed = seed
        self.instruments = dict(instruments)
        self.collateral = tuple(collateral)
        self.config = config
        self.scenario_config = scenario_config
        self.policy = policy
        self.factors = tuple(factors)
        self.universe = universe_of(instruments)
        self.symbols = ledger_symbols(instruments, seed.symbols)
        self.settings = repr((config, scenario_config, self.universe, self.collateral))
        self._first_observation: int | None = None

    def seed_end_ms(self, conn: Connection | None, now_ms: int) -> int:
        if self.policy.seed_end_ms is not None:
            return self.policy.seed_end_ms
        if self._first_observation is None and conn is not None:  # read once: the ledger's first price
            first = first_mark_ms(conn)
            self._first_observation = None if first is None else int(first)
        return now_ms if self._first_observation is None else min(self._first_observation, now_ms)

    def calibrate(
        self, ledger: PriceHistory | None, data_end_ms: int, notes: tuple[str, ...] = ()
    ) -> tuple[RiskModel, HaircutModel, Calibration]:
        history = splice(self.seed, ledger)
        scfg = self.scenario_config
        filtered = filter_history(history, proxies_in(history), scfg)
        scenarios = build_scenarios(filtered, len(history.dates) - 1, self.factors, scfg)
        model = build_model(scenarios, self.universe, self.config)
        assets = [
            CollateralAsset(c.symbol, c.factor, c.horizon_days, c.floor, c.tier_indices(self.config), c.max_share)
            for c in self.collateral
        ]
        haircut_model = build_haircuts(scenarios, assets, self.config)
        digest = content_hash(history, self.settings)
        n_ledger = 0 if ledger is None else len(ledger.dates)
        last = str(history.dates[-1]) if n_ledger else f"seed:{history.dates[-1]}"
        version = f"{MODEL_ID}.{MODEL_REVISION}:{last}:{digest[:12]}"
        inputs = json.dumps(
            {
                "seed_end": str(self.seed.dates[-1]),
                "instruments": [
                    [i.name, i.kind, i.underlying] for i in sorted(self.instruments.values(), key=lambda i: i.name)
                ],
                "collateral": [asdict(c) for c in self.collateral],
                # the ledger's daily index closes after the seed (NaN as null): the verifier splices them too
                "ledger": None
                if ledger is None
                else {
                    "dates": [str(x) for x in ledger.dates],
                    "symbols": list(ledger.symbols),
                    "close": [[None if math.isnan(v) else float(v) for v in row] for row in ledger.close.tolist()],
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return model, haircut_model, Calibration(version, digest, last, data_end_ms, n_ledger, notes, inputs)

    def place_seed(self, conn: Connection, now_ms: int, current: Calibration | None) -> Calibration:
        """The calibration with the seed's instant resolved (a seed placed at the first observation)."""
        if current is None:
            raise StaleCalibrationError("no calibration")
        if current.ledger_days or self.policy.seed_end_ms is not None:
            return current
        return replace(current, data_end_ms=self.seed_end_ms(conn, now_ms))

    def refresh(
        self, conn: Connection, now_ms: int, current: Calibration
    ) -> tuple[RiskModel, HaircutModel, Calibration] | None:
        """A new model once ``every_days`` new complete ledger days are in since ``current``, else None."""
        close_candles(conn, now_ms)
        anchor = self.seed_end_ms(conn, now_ms)
        first_day = -(-anchor // DAY_MS) * DAY_MS  # the first full day after the seed's last close
        candles = load_ledger_candles(conn, sorted(set(self.symbols.values())), DAY_MS, first_day)
        closes, notes = index_closes(candles, self.policy.index_rule)
        days = ledger_days(closes, self.symbols, self.factors, self.config.decimals)
        if days.history is None or len(days.history.dates) - current.ledger_days < self.policy.every_days:
            return None
        end = (int(days.history.dates[-1].astype("int64")) + 1) * DAY_MS
        return self.calibrate(days.history, end, tuple(notes) + days.notes)

    def check_age(self, calibration: Calibration | None, now_ms: int) -> None:
        if calibration is None:
            raise StaleCalibrationError("no calibration")
        age = now_ms - calibration.data_end_ms
        if age > self.policy.max_age_ms:
            raise StaleCalibrationError(
                f"calibration {calibration.version} ends {age / DAY_MS:.1f} days before now "
                f"(limit {self.policy.max_age_ms / DAY_MS:.1f}): no new complete day of ledger candles"
            )


def seed_history(
    instruments: Mapping[str, InstrumentSpec],
    collateral: Sequence[CollateralSpec],
    asof: str,
    data_dir: Path = DATA_DIR,
) -> tuple[PriceHistory, list[str]]:
    """The shipped history of every factor the book needs, up to and including ``asof`` (MarketDataError
    if the data does not reach ``asof``), and the factors themselves."""
    factors = model_factors(universe_of(instruments), (c.factor for c in collateral))
    return load_seed(factors, asof, data_dir), factors


def build_risk_margin(
    instruments: Mapping[str, InstrumentSpec],
    collateral: Sequence[CollateralSpec],
    asof: str,
    config: MarginConfig | None = None,
    scenario_config: ScenarioConfig | None = None,
    data_dir: Path = DATA_DIR,
    policy: CalibrationPolicy | None = None,
) -> RiskEngineMargin:
    """The live model: seeded with the project's real market data up to the date `asof` (YYYY-MM-DD),
    recalibrated from the ledger's candles on the policy's schedule (see the module docstring)."""
    cfg = config or MarginConfig()
    seed, factors = seed_history(instruments, collateral, asof, data_dir)
    recal = Recalibrator(
        seed, instruments, collateral, cfg, scenario_config or ScenarioConfig(), policy or CalibrationPolicy(), factors
    )
    # A seed placed at the ledger's first observation gets its instant at the first refresh.
    model, haircut_model, calibration = recal.calibrate(None, recal.seed_end_ms(None, 0))
    return RiskEngineMargin(
        model, haircut_model, cfg, instruments, collateral, calibration=calibration, recalibrator=recal
    )
