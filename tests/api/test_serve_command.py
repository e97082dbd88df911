"""`crossclear serve` is registered and builds its settings from the environment and a devnet file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from offchain.cli.main import build_parser
from offchain.cli.serve_command import settings_from_args


def test_serve_parses_and_reads_env(monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("CROSSCLEAR_API_CHAIN_ID", "5")
    mp.setenv("CROSSCLEAR_API_BURST", "7")
    try:
        args = build_parser().parse_args(["serve", "--db", "sqlite:///x.db", "--port", "9001"])
        s = settings_from_args(args)
    finally:
        mp.undo()
    assert (args.port, s.db_url, s.chain_id, s.burst, s.rpc_url) == (9001, "sqlite:///x.db", 5, 7, None)


def test_serve_with_a_devnet_runs_its_auction_house(tmp_path: Path) -> None:
    """`serve --devnet` builds the spec's auction house (its clock is the chain's: nothing is called yet)."""
    from eth_account import Account

    from offchain.cli.serve_command import build_app
    from offchain.core.bid import auctions_domain
    from offchain.devnet.spec import DevnetSpec, VenueSpec

    key = "0x" + "5a" * 32
    venue = VenueSpec(
        name="crossclear-auction", kind="auction", key=key, address=Account.from_key(key).address, symbols={}
    )
    base: dict[str, Any] = {
        "rpc_url": "http://127.0.0.1:1",
        "chain_id": 31337,
        "vault": "0x" + "ab" * 20,
        "tokens": {},
        "assets": {},
        "operator_key": "0x" + "0f" * 32,
        "signer_keys": [],
        "threshold": 1,
        "members": [],
        "venues": [],
        "instruments": [],
        "collateral": [],
        "risk_asof": "2026-01-01",
    }
    for spec, expected in (
        (DevnetSpec(**base, auction_venue=venue, house_account=3), True),
        (DevnetSpec(**base), False),
    ):
        path = tmp_path / f"devnet-{expected}.json"
        spec.save(path)
        db = f"sqlite:///{tmp_path / f'ledger-{expected}.db'}"
        args = build_parser().parse_args(["serve", "--devnet", str(path), "--db", db])
        house = build_app(settings_from_args(args), args.devnet).state.services.auctions
        if expected:
            assert house is not None and house.domain == auctions_domain(31337, spec.vault) and house.house == 3
        else:
            assert house is None
