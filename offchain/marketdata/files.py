"""Reading a price file: gzip or plain UTF-8 text, with a clear error for a missing or corrupt file.

One rule for every reader of candle files (the feeder's replayed sources here, the risk engine's
`load_candles`, the stress replays' price paths). It sits in marketdata, below risk, so the feeder's sources
need not import the risk engine for it."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

from offchain.errors import CrossclearError


class PriceFileError(CrossclearError, ValueError):
    """A price file is missing, is corrupt gzip, or is not UTF-8 text."""


def open_text(path: Path, error: Callable[[str], Exception] = PriceFileError) -> io.TextIOBase:
    """A price file's text, gunzipped when compressed. A missing or corrupt file raises `error(message)`:
    a caller whose contract names its own error passes it (the risk engine raises its MarketDataError)."""
    if not path.is_file():
        raise error(f"price file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise error(f"{path}: corrupt gzip: {exc}") from exc
    try:
        return io.StringIO(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text: {exc}") from exc
