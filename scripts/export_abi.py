#!/usr/bin/env python3
"""Build the contracts with forge and export ABI + creation bytecode to abi/<Name>.json.

`--check` exits non-zero, naming the stale files, when abi/ differs from a fresh build (the test
suite runs it, so a contract change without a re-export fails CI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.chain.artifacts import ABI_DIR, CONTRACTS_DIR, EXPORTED, MERGED_INTO  # noqa: E402


def forge_build() -> None:
    forge = CONTRACTS_DIR / "node_modules" / ".bin" / "forge"
    if not forge.exists():
        sys.exit("forge not found: run ./scripts/setup.sh first")
    result = subprocess.run([str(forge), "build"], cwd=CONTRACTS_DIR, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"forge build failed:\n{result.stdout}\n{result.stderr}")


def forge_output(source: str, name: str) -> dict[str, Any]:
    out = CONTRACTS_DIR / "out" / Path(source).name / f"{name}.json"
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def merged_abi(name: str, abi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`abi` plus the functions, events and errors of the module the contract's fallback serves (the
    module's constructor excluded); an entry both declare appears once."""
    if name not in MERGED_INTO:
        return abi
    extra = forge_output(*MERGED_INTO[name])["abi"]
    seen = {json.dumps(item, sort_keys=True) for item in abi}
    out = list(abi)
    for item in extra:
        key = json.dumps(item, sort_keys=True)
        if item.get("type") != "constructor" and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def rendered(source: str, name: str) -> str:
    data = forge_output(source, name)
    body = {
        "contractName": name,
        "source": f"contracts/src/{source}",
        "abi": merged_abi(name, data["abi"]),
        "bytecode": data["bytecode"]["object"],
    }
    return json.dumps(body, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if abi/ is stale instead of writing it")
    args = parser.parse_args()
    forge_build()
    stale = []
    ABI_DIR.mkdir(exist_ok=True)
    for source, name in EXPORTED:
        text = rendered(source, name)
        path = ABI_DIR / f"{name}.json"
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale ABI exports (run python scripts/export_abi.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
