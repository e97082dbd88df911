"""Contract artefacts (ABI and creation bytecode) exported to abi/ by scripts/export_abi.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ABI_DIR = REPO_ROOT / "abi"
CONTRACTS_DIR = REPO_ROOT / "contracts"

# (source file under contracts/src, contract name) for every artefact the Python side loads.
EXPORTED = (
    ("Vault.sol", "Vault"),
    ("VaultExtension.sol", "VaultExtension"),
    ("devnet/DevToken.sol", "DevToken"),
    ("governance/Timelock.sol", "Timelock"),
    ("Registry.sol", "Registry"),
)


# The vault's address answers the functions of these modules too (its fallback delegatecalls the
# VaultExtension): their ABIs are merged into the Vault's export, so one ABI names every function, event and
# error a caller meets at that address.
MERGED_INTO = {"Vault": ("VaultExtension.sol", "VaultExtension")}


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    path = ABI_DIR / f"{name}.json"
    data = json.loads(path.read_text())
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])
