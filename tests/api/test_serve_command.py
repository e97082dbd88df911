"""`crossclear serve` is registered and builds its settings from the environment and a devnet file."""

from __future__ import annotations

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
