"""Review of issue 12 ("one latest-price rule"): ingest's price band and the API's `/v1/marks` read the
newest single observation per name (`registry_store.read_registry`, `views.prices.latest_observed_prices`),
while the engine and the auction band read the index (`ledger.prices.latest_index`: median of each source's
latest observation, outliers rejected, quorum). With three sources and one of them lying last, ingest
centres its fill band on the liar's price, which the engine's index rejects."""

from __future__ import annotations

from pathlib import Path

from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ledger.db import open_ledger
from offchain.ledger.prices import latest_index, record_price
from offchain.ledger.views.prices import latest_observed_prices

NOW_MS = 1_800_000_000_000


def _three_sources_one_lying(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    db = open_ledger(url)
    with db.begin() as conn:
        record_price(conn, "ETH", 1_600_000_000, NOW_MS - 2_000, "venue-a")
        record_price(conn, "ETH", 1_600_000_000, NOW_MS - 1_500, "venue-b")
        record_price(conn, "ETH", 3_000_000_000, NOW_MS - 1_000, "venue-c")  # the outlier, recorded last
    db.dispose()
    return url


def test_ingest_band_uses_the_engines_index(tmp_path: Path) -> None:
    db = open_ledger(_three_sources_one_lying(tmp_path))
    with db.connect() as conn:
        index = latest_index(conn, "ETH", NOW_MS)
        snapshot = RegistrySnapshot.load(conn, NOW_MS)
    db.dispose()
    assert index.price == 1_600_000_000  # the engine rejects venue-c
    assert snapshot.marks["ETH"].price == index.price  # fails: ingest's band is centred on venue-c's 3,000


def test_api_marks_show_the_engines_index(tmp_path: Path) -> None:
    db = open_ledger(_three_sources_one_lying(tmp_path))
    with db.connect() as conn:
        index = latest_index(conn, "ETH", NOW_MS)
        shown = {p.name: p.price for p in latest_observed_prices(conn)}
    db.dispose()
    assert shown["ETH"] == index.price  # fails: /v1/marks shows venue-c's 3,000
