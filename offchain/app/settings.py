"""Settings for every production process, read with pydantic-settings from a config file (TOML, or JSON by
its suffix) and the environment, which wins over the file (`CROSSCLEAR_<PROCESS>_<FIELD>`, nested fields
with `__`, e.g. `CROSSCLEAR_ENGINE_CLOCK__MAX_LEAD_S=30`). Keys are `KeySource`s (offchain/config/keys.py):
keystores whose passwords come from the environment or a file; never a password or a key in the file,
except a plain key on the devnet chain.

- `DeploySettings`: what `crossclear deploy` deploys (vault, its modules, the timelock);
- `DeploymentDescription`: what it writes (addresses and parameters, no keys), read by everything else;
- `GovSettings`: who proposes and executes timelocked changes (`crossclear gov`);
- `EngineSettings`: the settlement engine (`crossclear engine --config`), leader or standby alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from offchain.chain.loosening import DEFAULT_LOOSENING_DELAY_S, DEFAULT_MARK_BAND_BPS
from offchain.config.keys import KeySource
from offchain.config.settings import FileSettings, SettingsError
from offchain.ledger.db import DEFAULT_URL

# The vault's floor of the withdrawal delay (VaultBase.MIN_WITHDRAWAL_DELAY, issue 11 fourth review finding 7).
MIN_WITHDRAWAL_DELAY_S = 3600


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- deploy


class TimelockSettings(_Model):
    """The vault's governor: an OpenZeppelin TimelockController."""

    min_delay_s: int = Field(ge=0)
    proposers: list[str] = Field(min_length=1)  # may schedule and cancel (a multisig in production)
    executors: list[str] = Field(min_length=1)  # may execute ready operations ("0x00..00": anyone)


class DeploySettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_DEPLOY_")

    rpc_url: str
    chain_id: int = Field(ge=1)  # checked against the node, so a config never deploys to the wrong chain
    deployer: KeySource
    settlement_token: str  # asset 0: the USD stablecoin
    guardian: str
    operator: str
    signers: list[str] = Field(min_length=1)
    threshold: int = Field(ge=1)
    # The vault refuses a delay below MIN_WITHDRAWAL_DELAY (1 hour, contracts/src/VaultBase.sol): the outflow
    # bound assumes the guardian can veto within it.
    withdrawal_delay_s: int = Field(default=3600, ge=MIN_WITHDRAWAL_DELAY_S)
    escape_period_s: int = Field(default=7 * 24 * 3600, ge=1)
    # The loosening rules (docs/contracts.md "Loosening"), set by the vault's constructor: how long a decrease of
    # a requirement or a haircut waits, and how far a collateral's price may rise per day (bps; 0 turns it off).
    loosening_delay_s: int = Field(default=DEFAULT_LOOSENING_DELAY_S, ge=0, le=365 * 24 * 3600)
    mark_band_bps: int = Field(default=DEFAULT_MARK_BAND_BPS, ge=0, lt=2**16)
    # Without a timelock the deployer governs directly: allowed on the devnet chain only.
    timelock: TimelockSettings | None = None

    @model_validator(mode="after")
    def _threshold_fits(self) -> DeploySettings:
        if self.threshold > len(self.signers):
            raise ValueError(f"threshold {self.threshold} exceeds the {len(self.signers)} signers")
        return self


class DeploymentDescription(_Model):
    """What `crossclear deploy` writes: addresses and parameters of one deployment, and no keys."""

    chain_id: int
    vault: str
    governor: str  # the timelock, or (devnet only) the deployer
    timelock: str | None
    timelock_min_delay_s: int | None
    modules: dict[str, str]  # module name -> address (contracts the vault deployed itself)
    settlement_token: str
    guardian: str
    operator: str
    signers: list[str]
    threshold: int
    withdrawal_delay_s: int
    escape_period_s: int
    loosening_delay_s: int | None = None  # None: a description written before the vault took them
    mark_band_bps: int | None = None
    deployer: str
    block: int  # the vault's deployment block: where event scans start

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> DeploymentDescription:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise SettingsError(f"cannot read deployment description {path}: {exc}") from exc


# ---------------------------------------------------------------- governance


class GovSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_GOV_")

    rpc_url: str
    deployment: Path
    proposer: KeySource  # a proposer of the timelock; also executes (or name an executor key)
    executor: KeySource | None = None


# ---------------------------------------------------------------- API


class ApiNodeSettings(FileSettings):
    """What an API process takes from the composition root: the deployment it serves and its relayer's key.
    Everything else (rate limits, session secret, page sizes) stays in `CROSSCLEAR_API_*` (offchain/api/config.py)."""

    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_APINODE_")

    db_url: str = DEFAULT_URL
    rpc_url: str
    deployment: Path
    relayer: KeySource | None = None  # pays gas for relayed withdrawal requests (not the engine's submitter)
    # The engine's settings file: ingest then checks every fill against the position limits of the engine's
    # own risk model (tier table, instrument depth) and refuses one beyond them (`POSITION_LIMIT`).
    engine: Path | None = None


# ---------------------------------------------------------------- feeder


class HttpSourceDef(_Model):
    """A venue's price endpoint: GET `url` with `{symbol}` filled in answers
    `{"symbol", "price" (decimal text), "ts_ms"[, "signature"]}` (offchain/marketdata/sources.py)."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://.*\{symbol\}")
    symbols: list[str] = Field(min_length=1)
    signer: str | None = None  # the source's key, when it signs its answers (an unsigned answer is refused)
    decimals: int = Field(default=6, ge=0, le=36)  # settlement base units
    timeout_s: float = Field(default=3.0, gt=0, le=60)


class ChainlinkSourceDef(_Model):
    """Chainlink AggregatorV3-compatible feeds (one contract per symbol) on a chain of their own."""

    name: str = Field(min_length=1)
    rpc_url: str
    feeds: dict[str, str] = Field(min_length=1)  # symbol -> aggregator address
    decimals: int = Field(default=6, ge=0, le=36)


class FeedSettings(FileSettings):
    """`crossclear feed --config`: the price sources the feeder polls into the ledger (several per symbol:
    the engine's index is their median, with a quorum of fresh, agreeing sources)."""

    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_FEED_")

    db_url: str = DEFAULT_URL
    interval_s: float = Field(default=2.0, gt=0, le=3_600)
    http: list[HttpSourceDef] = Field(default_factory=list)
    chainlink: list[ChainlinkSourceDef] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_source(self) -> FeedSettings:
        names = [h.name for h in self.http] + [c.name for c in self.chainlink]
        if not names:
            raise ValueError("give at least one [[http]] or [[chainlink]] price source")
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be distinct, got {names}")
        return self


# ---------------------------------------------------------------- engine


class CollateralDef(_Model):
    """A listed collateral asset as the risk engine margins it."""

    asset: int = Field(ge=0)  # the vault's asset number (printed by `crossclear gov execute` of a listing)
    symbol: str
    decimals: int = Field(ge=0, le=36)
    factor: str | None = None  # the risk factor it moves with (e.g. "ETH"); None for the settlement asset
    horizon_days: float = Field(default=2.0, gt=0)
    floor: float = Field(default=0.0, ge=0, lt=1)  # minimum haircut
    tiers: tuple[str, ...] | None = None  # names of the member tiers that may post it (None: every tier)
    max_share: float = Field(default=1.0, gt=0, le=1)  # cap on its share of a member's haircut collateral value


class ClockSettings(_Model):
    """The engine's clock is the wall clock; the chain's clock is checked against it (docs/operators.md)."""

    # Latest block more than this ahead of the wall clock halts settlement (None: no bound, e.g. a devnet
    # whose tests warp the chain forward).
    max_lead_s: int | None = Field(default=120, ge=1)
    # A batch stamped with the wall clock that the chain still calls "in the future" this long halts with
    # an alert (shorter lags just wait for the chain's next block).
    max_lag_s: int = Field(default=60, ge=1)


class LeaderSettings(_Model):
    """One leader per vault: a PostgreSQL advisory lock; a standby polls for it. SQLite: one node only."""

    poll_s: float = Field(default=0.5, gt=0)


class EngineSettings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSCLEAR_ENGINE_")

    db_url: str = DEFAULT_URL
    rpc_url: str
    rpc_timeout_s: float = Field(default=30.0, gt=0)
    deployment: Path | None = None  # the description `crossclear deploy` wrote
    submitter: KeySource  # pays gas for settle(); cannot change a batch
    # risk signers (at least the vault's threshold), or none when `cosigners` sign (offchain/cosign)
    signers: list[KeySource] = Field(default_factory=list)
    cosigners: list[str] = Field(default_factory=list)  # co-signer URLs: the engine then holds no risk key
    cosign_timeout_s: float = Field(default=30.0, gt=0)  # per co-signer request (a first one rebuilds its model)
    interval_s: float = Field(default=2.0, gt=0)
    max_fills: int = Field(default=5_000, ge=1)
    heartbeat_s: int = Field(default=60, ge=1)
    # An exiting member still holding positions this long after its exit request is closed out by auction
    # (offchain/defaults/closeout.py, docs/defaults.md §2a); None: the vault's escapePeriod / 4. Must stay below
    # escapePeriod - loosening delay - the auction's time (checked at start and at every step).
    exit_closeout_after_s: int | None = Field(default=None, ge=0)
    settlement_decimals: int = Field(default=6, ge=0, le=36)
    risk_asof: str  # the date whose history calibrates the risk model (YYYY-MM-DD)
    collateral: list[CollateralDef] = Field(min_length=1)
    clock: ClockSettings = ClockSettings()
    leader: LeaderSettings = LeaderSettings()

    @model_validator(mode="after")
    def _one_way_to_sign(self) -> EngineSettings:
        if bool(self.signers) == bool(self.cosigners):
            raise ValueError("give risk `signers` (keys the engine holds) or `cosigners` (URLs), not both or neither")
        return self
