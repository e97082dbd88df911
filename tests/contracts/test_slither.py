"""Slither in CI: every High/Medium finding on contracts/src is triaged in contracts/slither.triage.json.

Slither reuses forge's build (its Foundry platform runs `forge build`, which compiles through solcw), so no
solc download is needed. It lives in a venv of its own: slither-analyzer pins web3 < 8, and the project's
venv has web3 8. The venv is made on first use in the user's cache directory (CI runs on the same machine,
so later runs reuse it); `CROSSCLEAR_SLITHER` may name a slither executable instead.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from offchain.chain.artifacts import CONTRACTS_DIR
from tests.contracts import background

SLITHER_VERSION = "0.11.6"
TRIAGE = CONTRACTS_DIR / "slither.triage.json"
GATED_IMPACTS = ("High", "Medium")
SLITHER_ARGS = (
    ".",
    "--filter-paths",
    "node_modules|test/",
    "--exclude-informational",
    "--exclude-low",
    "--exclude-optimization",
)


def slither_executable() -> Path:
    """The slither executable: `CROSSCLEAR_SLITHER`, else a venv of its own, made on first use."""
    return background.cached_tool("slither", "slither-analyzer", SLITHER_VERSION, "CROSSCLEAR_SLITHER")


def finding_key(result: dict[str, Any]) -> tuple[str, str, str]:
    """(impact, detector, where): `where` names the first element and its parent (contract or function)."""
    element = result["elements"][0]
    parent = element.get("type_specific_fields", {}).get("parent", {}).get("name", "")
    where = f"{parent}.{element['name']}" if parent else str(element["name"])
    return str(result["impact"]), str(result["check"]), where


def untriaged(found: Counter[tuple[str, str, str]], triage: list[dict[str, Any]]) -> list[str]:
    """Findings beyond what the triage lists (new, or more often than its `count`), and triage entries no
    finding matches any more (so the file stays true)."""
    allowed = Counter({(t["impact"], t["check"], t["where"]): int(t["count"]) for t in triage})
    problems = [f"untriaged: {k} x{n - allowed[k]}" for k, n in sorted(found.items()) if n > allowed[k]]
    problems += [f"stale triage entry: {k}" for k in sorted(allowed) if found[k] == 0]
    return problems


def test_untriaged_counts_new_and_stale_findings() -> None:
    triage = [
        {"impact": "High", "check": "uninitialized-state", "where": "VaultStorage._ledger", "count": 1},
        {"impact": "Medium", "check": "unused-return", "where": "Vault.f", "count": 1},
    ]
    found = Counter({("High", "uninitialized-state", "VaultStorage._ledger"): 1})
    found[("Medium", "reentrancy-no-eth", "X.g")] = 1
    assert untriaged(found, triage) == [
        "untriaged: ('Medium', 'reentrancy-no-eth', 'X.g') x1",
        "stale triage entry: ('Medium', 'unused-return', 'Vault.f')",
    ]
    found[("High", "uninitialized-state", "VaultStorage._ledger")] = 2
    assert "untriaged: ('High', 'uninitialized-state', 'VaultStorage._ledger') x1" in untriaged(found, triage)


@pytest.mark.forge
def test_slither_finds_nothing_untriaged() -> None:
    triage = json.loads(TRIAGE.read_text())
    assert triage["slither"] == SLITHER_VERSION, "triage recorded with another Slither version"
    assert all(t["reason"].strip() for t in triage["findings"]), "every triage entry gives its reason"
    run = background.result("slither")  # started when the session was collected (tests/contracts/background.py)
    report = Path(run.stdout)  # the report's path; the tool's own output is in stderr
    assert report.exists(), run.stderr[-8000:]
    data = json.loads(report.read_text())
    assert data["success"], data.get("error")
    detectors = data["results"].get("detectors", [])
    found = Counter(finding_key(r) for r in detectors if r["impact"] in GATED_IMPACTS)
    assert found, "slither reported no High/Medium finding at all: the run analysed nothing?"
    problems = untriaged(found, triage["findings"])
    assert not problems, "\n".join(problems)
