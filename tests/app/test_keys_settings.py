"""Keystores and settings: keys only from encrypted keystores (plain keys on the devnet chain only),
settings from a file with the environment on top, and clear errors for what cannot be loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import SecretStr

from offchain.app.settings import DeploySettings, EngineSettings
from offchain.config.keys import DEVNET_CHAIN_ID, KeyLoadError, KeySource, load_account, write_keystore
from offchain.config.settings import SettingsError
from offchain.errors import ConfigError

KEY = "0x" + "11" * 32


def test_keystore_round_trip_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k.json"
    address = write_keystore(path, KEY, "pw", kdf="pbkdf2")
    assert address == Account.from_key(KEY).address
    body = json.loads(path.read_text())
    assert "11" * 32 not in path.read_text() and body["crypto"]["kdf"] == "pbkdf2"  # encrypted, not plain
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    monkeypatch.setenv("SIGNER_PW", "pw")
    account = load_account(KeySource(keystore=path, password_env="SIGNER_PW"), chain_id=1)
    assert account.address == address
    (tmp_path / "pw.txt").write_text("pw\n")
    assert load_account(KeySource(keystore=path, password_file=tmp_path / "pw.txt"), 1).address == address


def test_keystore_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k.json"
    write_keystore(path, KEY, "pw", kdf="pbkdf2")
    with pytest.raises(KeyLoadError, match="never overwritten"):
        write_keystore(path, KEY, "other", kdf="pbkdf2")
    with pytest.raises(KeyLoadError, match="empty password"):
        write_keystore(tmp_path / "e.json", KEY, "")
    monkeypatch.delenv("CROSSCLEAR_KEYSTORE_PASSWORD", raising=False)
    with pytest.raises(KeyLoadError, match=r"\$CROSSCLEAR_KEYSTORE_PASSWORD"):
        load_account(KeySource(keystore=path), 1)
    monkeypatch.setenv("CROSSCLEAR_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(KeyLoadError, match="cannot open keystore"):
        load_account(KeySource(keystore=path), 1)
    with pytest.raises(KeyLoadError, match="cannot open keystore"):
        load_account(KeySource(keystore=tmp_path / "missing.json"), 1)
    with pytest.raises(ValueError, match="exactly one"):
        KeySource()


def test_plain_keys_only_on_the_devnet_chain() -> None:
    plain = KeySource(plain_key=SecretStr(KEY))
    assert load_account(plain, DEVNET_CHAIN_ID).address == Account.from_key(KEY).address
    for chain_id in (1, 10, 8453, 424242):
        with pytest.raises(KeyLoadError, match="devnet only"):
            load_account(plain, chain_id)


ENGINE_TOML = """
rpc_url = "http://127.0.0.1:8545"
deployment = "deployment.json"
risk_asof = "2022-11-01"
interval_s = 1.5
[submitter]
keystore = "submitter.json"
[[signers]]
keystore = "s1.json"
[[collateral]]
asset = 0
symbol = "USDC"
decimals = 6
[clock]
max_lead_s = 90
"""


def test_engine_settings_from_a_file_with_the_environment_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(ENGINE_TOML)
    s = EngineSettings.load(path)
    assert s.interval_s == 1.5 and s.clock.max_lead_s == 90 and s.clock.max_lag_s == 60
    assert s.signers[0].keystore == Path("s1.json") and s.collateral[0].factor is None
    monkeypatch.setenv("CROSSCLEAR_ENGINE_INTERVAL_S", "0.5")
    monkeypatch.setenv("CROSSCLEAR_ENGINE_CLOCK__MAX_LEAD_S", "30")
    s = EngineSettings.load(path)
    assert s.interval_s == 0.5 and s.clock.max_lead_s == 30  # the environment wins over the file
    assert EngineSettings.load(path, interval_s=3.0).interval_s == 3.0  # and explicit overrides over both
    json_path = tmp_path / "engine.json"
    json_path.write_text(json.dumps({"rpc_url": "http://x", "risk_asof": "2022-11-01",
                                     "submitter": {"keystore": "a.json"}, "signers": [{"keystore": "b.json"}],
                                     "collateral": [{"asset": 0, "symbol": "USDC", "decimals": 6}]}))  # fmt: skip
    assert EngineSettings.load(json_path).rpc_url == "http://x"


def test_bad_settings_fail_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        EngineSettings.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(ENGINE_TOML.replace("interval_s = 1.5", "interval_s = -1\nunknown_field = 2"))
    with pytest.raises(SettingsError) as raised:
        EngineSettings.load(bad)
    assert "interval_s" in str(raised.value) and "unknown_field" in str(raised.value)
    assert isinstance(raised.value, ConfigError)
    broken = tmp_path / "broken.toml"
    broken.write_text("rpc_url = ")
    with pytest.raises(SettingsError):
        EngineSettings.load(broken)
    deploy = tmp_path / "deploy.toml"
    deploy.write_text(
        'rpc_url = "http://x"\nchain_id = 1\nsettlement_token = "0x' + "11" * 20 + '"\nguardian = "0x' + "22" * 20
        + '"\noperator = "0x' + "33" * 20 + '"\nsigners = ["0x' + "44" * 20 + '"]\nthreshold = 2\n'
        '[deployer]\nkeystore = "d.json"\n'
    )  # fmt: skip
    with pytest.raises(SettingsError, match="threshold 2 exceeds the 1 signers"):
        DeploySettings.load(deploy)


def test_api_settings_come_from_the_deployment_description(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from offchain.app.settings import ApiNodeSettings, DeploymentDescription
    from offchain.app.wiring import api_settings

    vault, operator = "0x" + "ab" * 20, "0x" + "cd" * 20
    DeploymentDescription(
        chain_id=8453, vault=vault, governor="0x" + "01" * 20, timelock="0x" + "01" * 20, timelock_min_delay_s=60,
        modules={}, settlement_token="0x" + "02" * 20, guardian="0x" + "03" * 20, operator=operator, signers=[],
        threshold=1, withdrawal_delay_s=3600, escape_period_s=604_800, deployer="0x" + "04" * 20, block=1,
    ).save(tmp_path / "deployment.json")  # fmt: skip
    write_keystore(tmp_path / "relayer.json", KEY, "pw", kdf="pbkdf2")
    monkeypatch.setenv("RELAYER_PW", "pw")
    (tmp_path / "api.toml").write_text(
        f'rpc_url = "http://rpc"\ndeployment = "{tmp_path / "deployment.json"}"\ndb_url = "sqlite:///x.db"\n'
        f'[relayer]\nkeystore = "{tmp_path / "relayer.json"}"\npassword_env = "RELAYER_PW"\n'
    )
    s = api_settings(ApiNodeSettings.load(tmp_path / "api.toml"), env={"CROSSCLEAR_API_RATE_PER_S": "7"})
    assert (s.chain_id, s.vault, s.operator_address, s.rpc_url) == (8453, vault, operator, "http://rpc")
    assert s.relayer_key is not None and s.relayer_key.get_secret_value() == KEY and s.rate_per_s == 7.0
    (tmp_path / "plain.toml").write_text(
        (tmp_path / "api.toml").read_text().split("[relayer]")[0] + f'[relayer]\nplain_key = "{KEY}"\n'
    )
    with pytest.raises(KeyLoadError, match="devnet only"):  # chain 8453: keystores only
        api_settings(ApiNodeSettings.load(tmp_path / "plain.toml"))


def test_withdrawal_delay_below_the_vaults_floor_is_refused(tmp_path: Path) -> None:
    """Issue 11, fourth review, finding 7: the vault refuses D < 1 hour (WithdrawalDelayTooShort), so the
    deployment settings do too, before anything is sent."""
    deploy = tmp_path / "deploy.toml"
    base = (
        'rpc_url = "http://x"\nchain_id = 1\nsettlement_token = "0x' + "11" * 20 + '"\nguardian = "0x' + "22" * 20
        + '"\noperator = "0x' + "33" * 20 + '"\nsigners = ["0x' + "44" * 20 + '"]\nthreshold = 1\n'
    )  # fmt: skip
    keys = '[deployer]\nkeystore = "d.json"\n'
    deploy.write_text(base + "withdrawal_delay_s = 0\n" + keys)
    with pytest.raises(SettingsError, match="withdrawal_delay_s"):
        DeploySettings.load(deploy)
    deploy.write_text(base + "withdrawal_delay_s = 3600\n" + keys)
    assert DeploySettings.load(deploy).withdrawal_delay_s == 3600
