"""Review of issue 12 ("keys only from encrypted keystores, plain keys allowed only on a devnet chain id"):
`crossclear serve --config api.toml` on a deployment of chain 424242 still takes a plain relayer key from
`CROSSCLEAR_API_RELAYER_KEY` when api.toml has no `[relayer]` (`app.wiring.api_settings` passes the rest of
`CROSSCLEAR_API_*` through), and docs/operators.md lists `_RELAYER_KEY` among the API's settings. The
engine, deploy and gov refuse the same key with `plain private keys are for the devnet only`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.app.settings import ApiNodeSettings
from offchain.app.wiring import api_settings
from offchain.chain.anvil import ANVIL_KEYS
from offchain.errors import CrossclearError

ADDRESS = "0x" + "11" * 20


def test_a_plain_relayer_key_from_the_environment_is_refused_off_the_devnet(tmp_path: Path) -> None:
    description = {
        "chain_id": 424242,
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
    node = ApiNodeSettings.load(api_toml)
    with pytest.raises(CrossclearError, match="devnet only"):  # fails: the plain key is taken as the relayer
        api_settings(node, env={"CROSSCLEAR_API_RELAYER_KEY": ANVIL_KEYS[3]})
