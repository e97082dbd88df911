"""Price-file reading (offchain/marketdata/files.py): gzip or plain text, one error per kind of bad file,
raised as the caller's own error type when it names one (the risk engine's MarketDataError)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from offchain.errors import CrossclearError
from offchain.marketdata.files import PriceFileError, open_text
from offchain.marketdata.sources import load_series
from offchain.risk.errors import MarketDataError
from offchain.risk.marketdata import load_candles

ROWS = "timestamp,symbol,open,high,low,close\n2022-11-01T00:00:00Z,BTC,1,1,1,1\n"


def test_plain_and_gzipped_files_read_the_same(tmp_path: Path) -> None:
    plain, packed = tmp_path / "p.csv", tmp_path / "p.csv.gz"
    plain.write_text(ROWS)
    packed.write_bytes(gzip.compress(ROWS.encode()))
    assert open_text(plain).read() == open_text(packed).read() == ROWS


def test_bad_files_raise_the_callers_error(tmp_path: Path) -> None:
    corrupt, latin = tmp_path / "c.csv.gz", tmp_path / "l.csv"
    corrupt.write_bytes(gzip.compress(ROWS.encode())[:-8])  # the gzip trailer cut off
    latin.write_bytes("timestamp,symbol\n2022,BTC\xe9\n".encode("latin-1"))
    cases = [(tmp_path / "none.csv", "price file not found"), (corrupt, "corrupt gzip"), (latin, "not UTF-8")]
    for path, message in cases:
        with pytest.raises(PriceFileError, match=message) as raised:
            open_text(path)
        assert isinstance(raised.value, CrossclearError)
        with pytest.raises(MarketDataError, match=message):
            open_text(path, MarketDataError)
    # The readers on both sides keep their contracts: the feeder's sources a PriceFileError, the risk
    # engine's loader its MarketDataError.
    with pytest.raises(PriceFileError, match="not found"):
        load_series(tmp_path / "none.csv", ["BTC"])
    with pytest.raises(MarketDataError, match="corrupt gzip"):
        load_candles(corrupt)
