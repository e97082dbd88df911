"""The command's entry points: `crossclear`, `python -m offchain.cli` and `python -m offchain.cli.main` are
one program, with argparse's exit status 2 and a message for an unknown command."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["offchain.cli", "offchain.cli.main"])
def test_the_module_runs_the_command(module: str) -> None:
    ok = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "usage: crossclear" in ok.stdout and "deploy" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", module, "nosuch"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice: 'nosuch'" in bad.stderr
