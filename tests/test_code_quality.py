"""The project standard, enforced by the suite: ruff lint, ruff format and strict mypy on offchain, tests and scripts.

mypy's paths and flags come from ``[tool.mypy]`` in pyproject.toml; its incremental cache is the repository's
``.mypy_cache`` (a cold run takes ~15 s, a warm one ~1 s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtualenv running the tests (.venv/bin)
SOURCES = ("offchain", "tests", "scripts")

CHECKS = {
    "ruff check": [str(BIN / "ruff"), "check", *SOURCES],
    "ruff format": [str(BIN / "ruff"), "format", "--check", *SOURCES],
    "mypy": [str(BIN / "mypy"), "--cache-dir", str(ROOT / ".mypy_cache")],
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", list(CHECKS))
def test_tool_passes(name: str) -> None:
    result = subprocess.run(CHECKS[name], cwd=ROOT, capture_output=True, text=True, timeout=150)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(CHECKS[name])} failed:\n{output[-8000:]}"
