"""`crossclear cosign` refuses bad settings with a message and a non-zero exit, before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from offchain.cli.main import main


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cosign", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "settings file" in capsys.readouterr().err


def test_config_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cosign.toml"
    config.write_text('rpc_url = "http://127.0.0.1:1"\nvault = "0x' + "00" * 20 + '"\n')
    assert main(["cosign", "--config", str(config)]) == 2
    assert "key" in capsys.readouterr().err


def test_unreachable_rpc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cosign.toml"
    config.write_text(
        'rpc_url = "http://127.0.0.1:1"\nvault = "0x' + "00" * 20 + '"\nrpc_timeout_s = 2\n'
        '[key]\nplain_key = "0x' + "11" * 32 + '"\n'
    )
    assert main(["cosign", "--config", str(config)]) == 2
    assert "crossclear cosign:" in capsys.readouterr().err
