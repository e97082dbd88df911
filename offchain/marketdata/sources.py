"""Price adapters: where observations come from.

* :class:`ReplaySource` (devnet): one venue's recorded hourly series (spot last trade, perpetual last
  trade, perpetual mark) from ``data/market``, replayed as a live ticker: at ledger time ``now`` it shows
  the last close at or before the history instant ``history_start + (now - start) * speed``, stamped
  ``now`` (what a venue's ticker endpoint returns). Past the end of its series it falls silent (and the
  index marks it stale), it never invents a price.
* :class:`HttpJsonSource` (production): a venue's price endpoint returning JSON
  ``{"symbol", "price", "ts_ms", "signature"?}``; where the venue signs (EIP-191 over
  :meth:`Observation.digest_text`), a configured signer address is enforced and an unsigned or
  wrongly signed answer is refused.
* :class:`ChainlinkSource` (production): a Chainlink AggregatorV3-compatible on-chain feed
  (``latestRoundData()``, ``decimals()``); incomplete rounds and non-positive answers are refused.

Every adapter returns :class:`Observation` values; invalid input raises :class:`MarketInputError` with a
code, which the feeder records as an alert for that source and symbol only.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from eth_account import Account
from eth_account.messages import encode_defunct
from numpy.typing import NDArray

from offchain.marketdata.files import open_text
from offchain.marketdata.observations import MarketInputError, Observation

HOUR_MS = 3_600_000


class PriceAdapter(Protocol):
    """A source of observations; ``poll`` returns what the source says now (possibly nothing)."""

    name: str

    def poll(self, now_ms: int) -> list[Observation]: ...


def to_units(value: str | int | float | Decimal, decimals: int) -> int:
    """A decimal price as settlement base units, rounded down; MarketInputError if not a positive number."""
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise MarketInputError("bad_price", f"not a number: {value!r}") from None
    if not d.is_finite() or d <= 0:
        raise MarketInputError("non_positive_price", f"price must be a positive number, got {value!r}")
    return int(d.scaleb(decimals))


@dataclass(frozen=True)
class Series:
    """Close instants (ms since the epoch, increasing) and closes (base units) of one recorded series."""

    close_ms: NDArray[np.int64]
    close: NDArray[np.int64]


def load_series(path: Path, symbols: Sequence[str], decimals: int = 6) -> dict[str, Series]:
    """Hourly candles of ``symbols`` from a candle file (``timestamp`` = open time) as close series.

    Rows are checked: non-positive prices, OHLC inconsistencies and non-increasing timestamps are
    MarketInputErrors naming the line (the data-quality gate for replayed sources).
    """
    reader = csv.reader(open_text(path))
    header = next(reader)
    col = {c: header.index(c) for c in ("timestamp", "symbol", "open", "high", "low", "close")}
    raw: dict[str, tuple[list[int], list[int]]] = {s: ([], []) for s in symbols}
    for n, row in enumerate(reader, start=2):
        sym = row[col["symbol"]]
        if sym not in raw:
            continue
        o, h, lo, c = (to_units(row[col[k]], decimals) for k in ("open", "high", "low", "close"))
        if not (lo <= min(o, c) and h >= max(o, c)):
            raise MarketInputError("ohlc_inconsistent", f"{path}:{n}: low/high do not bound open/close")
        opened = int(np.datetime64(row[col["timestamp"]].rstrip("Z"), "ms").astype(np.int64))
        times, closes = raw[sym]
        if times and opened + HOUR_MS <= times[-1]:
            raise MarketInputError("timestamps_not_increasing", f"{path}:{n}: {sym} out of order")
        times.append(opened + HOUR_MS)
        closes.append(c)
    missing = [s for s, (tt, _) in raw.items() if not tt]
    if missing:
        raise MarketInputError("no_rows", f"{path}: no rows for {missing}")
    return {s: Series(np.array(tt, dtype=np.int64), np.array(cc, dtype=np.int64)) for s, (tt, cc) in raw.items()}


class ReplaySource:
    """One venue's recorded series replayed as a live ticker (see the module docstring).

    ``series`` maps a recorded symbol (``BTC``) to its closes; ``publishes`` maps it to the ledger symbols
    the venue's price stands for (``["BTC", "BTC-USD-PERP"]``: its index of the underlying and the mark
    of the perpetual).
    """

    def __init__(
        self,
        name: str,
        series: Mapping[str, Series],
        publishes: Mapping[str, Sequence[str]],
        history_start_ms: int,
        start_ms: int,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise MarketInputError("bad_speed", "speed must be > 0")
        self.name = name
        self.series = dict(series)
        self.publishes = {k: tuple(v) for k, v in publishes.items()}
        self.history_start_ms = history_start_ms
        self.start_ms = start_ms
        self.speed = speed
        self.faults: dict[str, Callable[[int], int]] = {}  # ledger symbol -> price transform (fault drills)

    def history_ms(self, now_ms: int) -> int:
        return self.history_start_ms + int((now_ms - self.start_ms) * self.speed)

    def poll(self, now_ms: int) -> list[Observation]:
        h = self.history_ms(now_ms)
        out = []
        for sym, s in sorted(self.series.items()):
            k = int(np.searchsorted(s.close_ms, h, side="right")) - 1
            if k < 0 or h - int(s.close_ms[k]) > HOUR_MS:  # before the series, or past its end: silent
                continue
            for target in self.publishes.get(sym, ()):
                price = int(s.close[k])
                fault = self.faults.get(target)
                out.append(Observation(target, self.name, fault(price) if fault else price, now_ms))
        return out


class HttpJsonSource:
    """A venue's price endpoint: ``fetch(symbol)`` returns its decoded JSON answer for one symbol."""

    def __init__(
        self,
        name: str,
        symbols: Sequence[str],
        fetch: Callable[[str], Mapping[str, Any]],
        signer: str | None = None,
        decimals: int = 6,
    ) -> None:
        self.name = name
        self.symbols = tuple(symbols)
        self.fetch = fetch
        self.signer = None if signer is None else signer.lower()
        self.decimals = decimals

    def parse(self, symbol: str, answer: Mapping[str, Any]) -> Observation:
        if answer.get("symbol") != symbol:
            raise MarketInputError("wrong_symbol", f"{self.name}: asked for {symbol}, got {answer.get('symbol')!r}")
        ts = answer.get("ts_ms")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise MarketInputError("bad_timestamp", f"{self.name} {symbol}: ts_ms must be an integer")
        obs = Observation(symbol, self.name, to_units(answer.get("price", ""), self.decimals), ts)
        if self.signer is None:
            return obs
        sig_hex = answer.get("signature")
        if not isinstance(sig_hex, str):
            raise MarketInputError("unsigned", f"{self.name} {symbol}: the source signs, and this answer is unsigned")
        try:
            sig = bytes.fromhex(sig_hex.removeprefix("0x"))
            who = Account.recover_message(encode_defunct(text=obs.digest_text()), signature=sig)
        except (ValueError, TypeError) as exc:
            raise MarketInputError("bad_signature", f"{self.name} {symbol}: {exc}") from None
        if who.lower() != self.signer:
            raise MarketInputError("bad_signature", f"{self.name} {symbol}: signed by {who}, expected {self.signer}")
        return Observation(symbol, self.name, obs.price, ts, sig, who)

    def poll(self, now_ms: int) -> list[Observation]:
        return [self.parse(s, self.fetch(s)) for s in self.symbols]


@dataclass(frozen=True)
class Round:
    """AggregatorV3Interface.latestRoundData()."""

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int


def from_round(symbol: str, source: str, rnd: Round, feed_decimals: int, decimals: int = 6) -> Observation:
    """An observation from a Chainlink round: answer rescaled to base units (down), stamped ``updatedAt``."""
    if rnd.answer <= 0:
        raise MarketInputError("non_positive_price", f"{source} {symbol}: answer {rnd.answer}")
    if rnd.updated_at == 0 or rnd.answered_in_round < rnd.round_id:
        raise MarketInputError("incomplete_round", f"{source} {symbol}: round {rnd.round_id} not answered")
    price = rnd.answer * 10**decimals // 10**feed_decimals
    return Observation(symbol, source, price, rnd.updated_at * 1000)


AGGREGATOR_V3_ABI: list[dict[str, Any]] = [
    {
        "inputs": [],
        "name": "decimals",
        "outputs": [{"name": "", "type": "uint8"}],
        "stateMutability": "view",
        "type": "function",
    },
    {
        "inputs": [],
        "name": "latestRoundData",
        "outputs": [
            {"name": "roundId", "type": "uint80"},
            {"name": "answer", "type": "int256"},
            {"name": "startedAt", "type": "uint256"},
            {"name": "updatedAt", "type": "uint256"},
            {"name": "answeredInRound", "type": "uint80"},
        ],
        "stateMutability": "view",
        "type": "function",
    },
]


class ChainlinkSource:
    """Chainlink AggregatorV3-compatible feeds, one contract per symbol, read through web3."""

    def __init__(self, name: str, w3: Any, feeds: Mapping[str, str], decimals: int = 6) -> None:
        self.name = name
        self.decimals = decimals
        self.contracts = {s: w3.eth.contract(address=a, abi=AGGREGATOR_V3_ABI) for s, a in feeds.items()}
        self._feed_decimals: dict[str, int] = {}

    def poll(self, now_ms: int) -> list[Observation]:
        out = []
        for symbol, c in sorted(self.contracts.items()):
            if symbol not in self._feed_decimals:
                self._feed_decimals[symbol] = int(c.functions.decimals().call())
            rnd = Round(*(int(x) for x in c.functions.latestRoundData().call()))
            out.append(from_round(symbol, self.name, rnd, self._feed_decimals[symbol], self.decimals))
        return out
