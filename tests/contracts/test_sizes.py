"""Room to grow: every deployable contract under contracts/src keeps at least 3 KB of headroom under EIP-170,
and the vault's delegatecalled modules share the vault's storage layout slot for slot."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from typing import Any

import pytest

from offchain.chain.artifacts import CONTRACTS_DIR

FORGE = CONTRACTS_DIR / "node_modules" / ".bin" / "forge"
EIP170_RUNTIME_LIMIT = 24_576
EIP3860_INITCODE_LIMIT = 49_152
MIN_RUNTIME_HEADROOM = 3 * 1024
# The modules the Vault delegatecalls, and how much of the vault's layout each must reproduce: the extension
# shares every base (VaultBase), VaultDefaults only VaultStorage (its prefix).
MODULES = {"VaultExtension": "all", "VaultDefaults": "prefix"}


def _forge_json(*args: str) -> Any:
    """Run forge and parse the JSON document it prints (after any "Compiling..." lines of a fresh build)."""
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [str(FORGE), *args], cwd=CONTRACTS_DIR, capture_output=True, text=True, env=env, timeout=900
    )
    start = result.stdout.find("{")
    if start < 0:
        raise AssertionError(f"forge {' '.join(args)} printed no JSON:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout[start:])


def deployable_src_contracts() -> list[str]:
    """Names of the non-abstract contracts declared under contracts/src (libraries with only internal
    functions and interfaces are never deployed)."""
    names = []
    for path in sorted((CONTRACTS_DIR / "src").rglob("*.sol")):
        names += re.findall(r"^contract (\w+)", path.read_text(), flags=re.MULTILINE)
    return names


@cache
def sizes() -> dict[str, dict[str, int]]:
    # `--sizes` exits non-zero when any artefact (test contracts included) is over the limit; the JSON
    # still lists every contract, and only src/ is judged here.
    data: dict[str, dict[str, int]] = _forge_json("build", "--sizes", "--json")
    return data


def storage(name: str) -> list[tuple[str, str, int, str]]:
    layout: dict[str, Any] = _forge_json("inspect", name, "storageLayout", "--json")
    types = layout["types"]
    return [(s["label"], s["slot"], s["offset"], types[s["type"]]["label"]) for s in layout["storage"]]


@pytest.mark.forge
def test_src_contracts_are_found() -> None:
    names = deployable_src_contracts()
    assert {"Vault", "VaultExtension", "VaultDefaults", "DevToken"} <= set(names), names


@pytest.mark.forge
@pytest.mark.parametrize("name", deployable_src_contracts())
def test_runtime_code_keeps_3kb_headroom_under_eip170(name: str) -> None:
    size = sizes()[name]
    headroom = EIP170_RUNTIME_LIMIT - size["runtime_size"]
    assert headroom >= MIN_RUNTIME_HEADROOM, f"{name}: {size['runtime_size']:,} B runtime, {headroom:,} B headroom"
    assert size["init_size"] <= EIP3860_INITCODE_LIMIT, f"{name}: {size['init_size']:,} B initcode"


@pytest.mark.forge
@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_share_the_vault_storage_layout(module: str) -> None:
    vault = storage("Vault")
    mine = storage(module)
    if MODULES[module] == "all":
        assert mine == vault
    else:
        assert mine == vault[: len(mine)], "a module's storage must be a prefix of the vault's"
        assert mine, "the module declares no storage at all"
