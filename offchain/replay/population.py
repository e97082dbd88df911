"""The member population of a replay, read from a JSON or CSV file.

JSON::

    {
      "venues": [{"name": "dex-a", "volume_share": 0.05, "liquidation_fee": 0.005,
                  "insurance_fund": 0.01}],                       # optional, see VenueSpec
      "members": [
        {"name": "retail-dex", "kind": "retail_pool", "tier": 1,
         "cushion": 1.5,            # or "capital": 25000000 (USD)
         "reserve": 0.2,            # top-up money outside the platform, as a fraction of capital
         "response_hours": 2,       # time to react to a margin call / a venue's margin warning
         "bidder": false,           # bids in default auctions
         "collateral_asset": "USDC",
         "positions": [{"venue": "dex-a", "instrument": "BTC-USD-PERP", "notional": 40000000}]}
      ]
    }

CSV: header ``name,kind,tier,capital,cushion,reserve,response_hours,bidder,collateral_asset,positions`` with
``positions`` as ``venue:instrument:notional`` items separated by ``;`` (empty ``capital`` or ``cushion``
allowed, one of them required); venues take :data:`DEFAULT_VENUES` parameters (or the generic default).

Positions are signed USD notionals at the first step of the replay (long > 0), converted to quantities at
that step's price, so one population file fits every window. ``cushion`` k sizes capital as
``k × max(crossclear IM, sum of the venue-only initial margins)`` at the first step: the member holds the
same money in both worlds, enough for the stricter of the two requirements.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offchain.risk.errors import ConfigError

KINDS = ("retail_pool", "market_maker", "otc_hedger", "basis_trader", "thin", "other")


@dataclass(frozen=True)
class VenueSpec:
    """A venue as a stand-alone clearer (the venue-only alternative).

    Attributes:
        name: venue id.
        volume_share: the venue's share of the market volume in the data (its own book depth for
            instant liquidations: ADV × volume_share).
        liquidation_fee: fraction of the liquidated notional taken from a liquidated account's remaining
            equity into the venue's insurance fund.
        insurance_fund: initial insurance fund as a fraction of the venue's open interest (gross notional
            of the population's positions on it) at the first step.
    """

    name: str
    volume_share: float = 0.1
    liquidation_fee: float = 0.005
    insurance_fund: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.volume_share <= 1:
            raise ConfigError(f"venue {self.name}: volume_share must be in (0, 1]")
        if not 0 <= self.liquidation_fee < 1 or not 0 <= self.insurance_fund < 1:
            raise ConfigError(f"venue {self.name}: liquidation_fee and insurance_fund must be in [0, 1)")


#: Parameters of the default population's venues (documented in docs/stress-replays.md).
DEFAULT_VENUES: dict[str, VenueSpec] = {
    "dex-a": VenueSpec("dex-a", volume_share=0.05, liquidation_fee=0.005, insurance_fund=0.01),
    "cex-b": VenueSpec("cex-b", volume_share=0.5, liquidation_fee=0.005, insurance_fund=0.01),
    "otc-c": VenueSpec("otc-c", volume_share=0.02, liquidation_fee=0.005, insurance_fund=0.01),
}


@dataclass(frozen=True)
class PositionSpec:
    venue: str
    instrument: str
    notional: float  # signed USD at the first step


@dataclass(frozen=True)
class MemberSpec:
    name: str
    kind: str
    tier: int
    positions: tuple[PositionSpec, ...]
    capital: float | None = None
    cushion: float | None = None
    reserve: float = 0.0
    response_hours: float = 1.0
    bidder: bool = False
    collateral_asset: str = "USDC"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"member {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.capital is None) == (self.cushion is None):
            raise ConfigError(f"member {self.name}: give exactly one of capital (USD) or cushion")
        if self.capital is not None and not self.capital > 0:
            raise ConfigError(f"member {self.name}: capital must be > 0")
        if self.cushion is not None and not self.cushion > 0:
            raise ConfigError(f"member {self.name}: cushion must be > 0")
        if self.reserve < 0 or self.response_hours < 0 or self.tier < 0:
            raise ConfigError(f"member {self.name}: reserve, response_hours and tier must be >= 0")


@dataclass(frozen=True)
class Population:
    members: tuple[MemberSpec, ...]
    venues: tuple[VenueSpec, ...]

    def __post_init__(self) -> None:
        names = [m.name for m in self.members]
        if len(names) < 2:
            raise ConfigError("a population needs at least 2 members")
        if len(set(names)) != len(names):
            raise ConfigError("duplicate member names")
        have = {v.name for v in self.venues}
        for m in self.members:
            for p in m.positions:
                if p.venue not in have:
                    raise ConfigError(f"member {m.name}: unknown venue {p.venue!r}")

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.instrument for m in self.members for p in m.positions))

    def venue_index(self, name: str) -> int:
        return [v.name for v in self.venues].index(name)


def _num(value: Any, where: str, *, default: float | None = None) -> float:
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{where}: missing number")
        return default
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return x


def _opt(value: Any, where: str) -> float | None:
    return None if value is None or value == "" else _num(value, where)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(f"{where}: expected true/false, got {value!r}")


def _member(row: dict[str, Any], positions: tuple[PositionSpec, ...], where: str) -> MemberSpec:
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name must be a non-empty string")
    tier = _num(row.get("tier"), f"{where}.tier", default=0.0)
    if tier != int(tier):
        raise ConfigError(f"{where}.tier: must be an integer")
    asset = row.get("collateral_asset") or "USDC"
    if not isinstance(asset, str):
        raise ConfigError(f"{where}.collateral_asset: must be a string")
    if not positions:
        raise ConfigError(f"{where}: member {name} has no positions")
    return MemberSpec(
        name=name,
        kind=str(row.get("kind") or "other"),
        tier=int(tier),
        positions=positions,
        capital=_opt(row.get("capital"), f"{where}.capital"),
        cushion=_opt(row.get("cushion"), f"{where}.cushion"),
        reserve=_num(row.get("reserve"), f"{where}.reserve", default=0.0),
        response_hours=_num(row.get("response_hours"), f"{where}.response_hours", default=1.0),
        bidder=_bool(row.get("bidder", False), f"{where}.bidder"),
        collateral_asset=asset,
    )


def _position(venue: Any, instrument: Any, notional: Any, where: str) -> PositionSpec:
    if not isinstance(venue, str) or not venue or not isinstance(instrument, str) or not instrument:
        raise ConfigError(f"{where}: venue and instrument must be non-empty strings")
    return PositionSpec(venue, instrument, _num(notional, f"{where}.notional"))


def _venues(names: set[str], given: list[VenueSpec]) -> tuple[VenueSpec, ...]:
    out = {v.name: v for v in given}
    for n in sorted(names - set(out)):
        out[n] = DEFAULT_VENUES.get(n, VenueSpec(n))
    return tuple(out.values())


def parse_population_json(doc: Any, where: str) -> Population:
    if not isinstance(doc, dict) or not isinstance(doc.get("members"), list):
        raise ConfigError(f"{where}: expected an object with a 'members' list")
    venues: list[VenueSpec] = []
    for k, v in enumerate(doc.get("venues", [])):
        w = f"{where}: venues[{k}]"
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise ConfigError(f"{w}: expected an object with a name")
        d = VenueSpec(v["name"])
        venues.append(
            VenueSpec(
                v["name"],
                _num(v.get("volume_share"), f"{w}.volume_share", default=d.volume_share),
                _num(v.get("liquidation_fee"), f"{w}.liquidation_fee", default=d.liquidation_fee),
                _num(v.get("insurance_fund"), f"{w}.insurance_fund", default=d.insurance_fund),
            )
        )
    members = []
    for k, row in enumerate(doc["members"]):
        w = f"{where}: members[{k}]"
        if not isinstance(row, dict) or not isinstance(row.get("positions"), list):
            raise ConfigError(f"{w}: expected an object with a 'positions' list")
        pos = []
        for j, p in enumerate(row["positions"]):
            if not isinstance(p, dict):
                raise ConfigError(f"{w}.positions[{j}]: expected an object")
            pos.append(_position(p.get("venue"), p.get("instrument"), p.get("notional"), f"{w}.positions[{j}]"))
        members.append(_member(row, tuple(pos), w))
    names = {p.venue for m in members for p in m.positions}
    return Population(tuple(members), _venues(names, venues))


def parse_population_csv(text: str, where: str) -> Population:
    reader = csv.DictReader(io.StringIO(text))
    need = {"name", "positions"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise ConfigError(f"{where}: CSV header must include {', '.join(sorted(need))}")
    members = []
    for k, row in enumerate(reader, start=2):
        w = f"{where}:{k}"
        pos = []
        for item in (row.get("positions") or "").split(";"):
            if not item.strip():
                continue
            parts = item.strip().split(":")
            if len(parts) != 3:
                raise ConfigError(f"{w}: position {item!r} must be venue:instrument:notional")
            pos.append(_position(parts[0], parts[1], parts[2], w))
        members.append(_member(dict(row), tuple(pos), w))
    names = {p.venue for m in members for p in m.positions}
    return Population(tuple(members), _venues(names, []))


def load_population(path: str | Path) -> Population:
    """Read a population file (``.json`` or ``.csv``); raises :class:`ConfigError` with the reason."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"members file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text: {exc}") from None
    if p.suffix.lower() == ".csv":
        return parse_population_csv(text, str(p))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON: {exc}") from None
    return parse_population_json(doc, str(p))
