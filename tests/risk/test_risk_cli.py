"""`crossclear backtest` and `crossclear margin` end to end (short window of the shipped data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.cli.main import main

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
SPOT = str(DATA / "binance-spot-daily.csv.gz")
PERP = str(DATA / "binance-usdm-perp-hourly.csv.gz")


def _positions(tmp_path: Path, doc: object) -> str:
    f = tmp_path / "pos.json"
    f.write_text(json.dumps(doc))
    return str(f)


def test_backtest_json_short_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bt.md"
    rc = main(
        [
            "backtest",
            "--prices",
            SPOT,
            "--perp",
            PERP,
            "--from",
            "2023-01-01",
            "--to",
            "2023-07-01",
            "--json",
            "--out",
            str(out),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert rc in (0, 1) and rc == (0 if doc["all_pass"] else 1)
    names = [r["name"] for r in doc["rows"]]
    assert "BTC long" in names and "basis BTC: long spot (CEX) / short perp (DEX)" in names
    for r in doc["rows"]:
        assert {"exceedances", "observations", "kupiec_p", "christoffersen_p", "pass"} <= set(r)
        assert 0 <= r["exceedances"] <= r["observations"] <= 182
    assert "| BTC long |" in out.read_text()


def test_backtest_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--prices", str(tmp_path / "missing.csv"), "--out", ""]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["backtest", "--prices", SPOT, "--from", "yesterday", "--out", ""]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["backtest", "--prices", SPOT, "--from", "2030-01-01", "--out", ""]) == 2
    assert "empty" in capsys.readouterr().err


def test_margin_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "positions": [
            {"member": "alice", "instrument": "BTC-USD-PERP", "qty": 2.0, "venue": "dex"},
            {"member": "alice", "instrument": "BTC-USD-PERP", "qty": -2.0, "venue": "cex"},
            {"member": "bob", "instrument": "BTC", "qty": 1.0},
            {"member": "bob", "instrument": "BTC-USD-PERP", "qty": -1.0},
            {"member": "carol", "instrument": "ETH", "qty": 10.0},
        ],
        "collateral": [{"member": "bob", "asset": "USDC", "qty": 5000}, {"member": "carol", "asset": "ETH", "qty": 1}],
        "tiers": {"carol": 2},
    }
    rc = main(["margin", "--positions", _positions(tmp_path, doc), "--prices", SPOT, "--perp", PERP, "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    m = {r["member"]: r for r in rep["members"]}
    assert rep["asof"] == "2024-06-30"
    assert m["alice"]["im"] == 0.0  # same exposure on two venues nets
    assert 0 < m["bob"]["im"] < 0.05 * rep["marks"]["BTC"]  # basis trade margined as a hedge
    assert m["carol"]["im"] > m["carol"]["mm"] > 0 and m["carol"]["tier"] == 2
    assert m["bob"]["collateral_value"] == 5000.0
    assert 0 < m["carol"]["collateral_value"] < rep["marks"]["ETH"] if "ETH" in rep["marks"] else True
    for r in rep["members"]:
        assert r["liquidity_addon"] >= 0 and r["concentration_addon"] >= 0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", "not valid JSON"),
        ({"rows": []}, "'positions' list"),
        ({"positions": [{"member": "a", "qty": 1}]}, "missing field 'instrument'"),
        ({"positions": [{"member": "a", "instrument": "BTC", "qty": "x"}]}, "finite number"),
        ({"positions": [{"member": "a", "instrument": "NOPE", "qty": 1}]}, "no price series"),
        (
            {
                "positions": [{"member": "a", "instrument": "BTC", "qty": 1}],
                "collateral": [{"member": "a", "asset": "BTC", "qty": -1}],
            },
            ">= 0",
        ),
        (
            {
                "positions": [{"member": "a", "instrument": "BTC", "qty": 1}],
                "collateral": [{"member": "a", "asset": "GOLDBAR", "qty": 1}],
            },
            "numeraire",
        ),
        ({"positions": [{"member": "a", "instrument": "BTC", "qty": 1}], "tiers": {"a": 9}}, "tier index"),
    ],
)
def test_margin_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object, message: str) -> None:
    f = tmp_path / "pos.json"
    f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    assert main(["margin", "--positions", str(f), "--prices", SPOT]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossclear: ") and message in err


def test_margin_missing_prices_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos = _positions(tmp_path, {"positions": [{"member": "a", "instrument": "BTC", "qty": 1}]})
    assert main(["margin", "--positions", pos, "--prices", str(tmp_path / "none.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def test_backtest_tests_member_books_of_a_population(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    population = str(Path(__file__).resolve().parents[2] / "data" / "replay" / "population.json")
    argv = ["backtest", "--from", "2023-01-01", "--to", "2023-04-01", "--json", "--out", ""]
    rc = main([*argv, "--population", population])
    doc = json.loads(capsys.readouterr().out)
    assert rc in (0, 1)
    members = {r["name"]: r for r in doc["rows"] if r["name"].startswith("member ")}
    assert {"member retail-dex", "member mm-alpha"} <= set(members)
    assert all(r["tested"] and r["observations"] == 90 for r in members.values())
    # The market maker's cross-venue book (short on the DEX, long on the CEX) is margined as mostly hedged.
    assert members["member mm-alpha"]["mean_im"] < members["member retail-dex"]["mean_im"]
    bad = tmp_path / "pop.json"
    bad.write_text('{"members": [{"name": "x", "positions": [{"instrument": "DOGE-USD-PERP"}]}]}')
    assert main([*argv, "--population", str(bad)]) == 2
    assert "not a population file" in capsys.readouterr().err
