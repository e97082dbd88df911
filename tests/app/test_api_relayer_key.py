"""Keys only from encrypted keystores off the devnet, for the API's relayer too: `crossclear serve --config`
on a deployment of chain 424242 refuses a plain relayer key from `CROSSCLEAR_API_RELAYER_KEY` (the rest of
`CROSSCLEAR_API_*` still passes through) with the message the engine, deploy and gov give. Found by the
issue 12 review: the environment was a way around the keystore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.app.settings import ApiNodeSettings
from offchain.app.wiring import api_settings
from offchain.chain.anvil import ANVIL_KEYS
from offchain.config.keys import KeyLoadError

ADDRESS = "0x" + "11" * 20


def _node(tmp_path: Path, chain_id: int) -> ApiNodeSettings:
    description = {
        "chain_id": chain_id,
        "vault": ADDRESS,
        "governor": ADDRESS,
        "timelock": ADDRESS,
        "timelock_min_delay_s": 20,
        "modules": {"VaultExtension": ADDRESS, "VaultDefaults": ADDRESS},
        "settlement_token": ADDRESS,
        "guardian": ADDRESS,
        "operator": ADDRESS,
        "signers": [ADDRESS],
        "threshold": 1,
        "withdrawal_delay_s": 3600,
        "escape_period_s": 604800,
        "deployer": ADDRESS,
        "block": 1,
    }
    (tmp_path / "deployment.json").write_text(json.dumps(description))
    api_toml = tmp_path / "api.toml"
    api_toml.write_text(
        f'db_url = "sqlite:///{tmp_path / "l.db"}"\nrpc_url = "http://127.0.0.1:1"\n'
        f'deployment = "{tmp_path / "deployment.json"}"\n'
    )
    return ApiNodeSettings.load(api_toml)


def test_a_plain_relayer_key_from_the_environment_is_refused_off_the_devnet(tmp_path: Path) -> None:
    node = _node(tmp_path, 424242)
    with pytest.raises(KeyLoadError, match="devnet only"):
        api_settings(node, env={"CROSSCLEAR_API_RELAYER_KEY": ANVIL_KEYS[3]})
    assert api_settings(node, env={}).relayer_key is None  # no relayer: the API simply relays nothing


def test_the_same_plain_key_is_taken_on_the_devnet(tmp_path: Path) -> None:
    settings = api_settings(_node(tmp_path, 31337), env={"CROSSCLEAR_API_RELAYER_KEY": ANVIL_KEYS[3]})
    assert settings.relayer_key is not None and settings.relayer_key.get_secret_value() == ANVIL_KEYS[3]
