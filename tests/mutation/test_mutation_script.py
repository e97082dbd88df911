"""scripts/mutation.py on a tiny fixture project: it scores, records, sees a touched module by its hash alone,
and fails the CI rule when a test is removed (the score drops below the recorded one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from offchain.devtools.mutants import mutants

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mutation.py"

MODULE = '''\
def fee(amount: int, bps: int) -> int:
    """A fee of `bps` basis points, rounded down."""
    if amount < 0:
        raise ValueError("amount must be >= 0")
    return amount * bps // 10_000
'''

EXACT = """
def test_fee_is_exact() -> None:
    assert fee(10_000, 30) == 30
    assert fee(20_000, 1) == 2
"""

TESTS = (
    """\
import pytest

from pkgfix.money import fee


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        fee(-1, 30)
    assert fee(0, 30) == 0


def test_fee_rounds_down() -> None:
    assert fee(9_999, 1) == 0
"""
    + EXACT
)

CONFIG = """
[settings]
warm = ["pytest", "hypothesis"]
forget = ["pkgfix", "tests_fix"]

[modules."pkgfix.money"]
target = 0.5
tests = ["tests_fix/test_money.py"]
"""


def project(tmp: Path) -> Path:
    (tmp / "pkgfix").mkdir()
    (tmp / "pkgfix" / "__init__.py").write_text("")
    (tmp / "pkgfix" / "money.py").write_text(MODULE)
    (tmp / "tests_fix").mkdir()
    (tmp / "tests_fix" / "__init__.py").write_text("")
    (tmp / "tests_fix" / "test_money.py").write_text(TESTS)
    (tmp / "mutation.toml").write_text(CONFIG)
    return tmp


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(tmp / "mutation.toml"), "--root", str(tmp), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_keys_name_the_function_and_the_mutation_not_the_line() -> None:
    keys = [m.key for m in mutants(MODULE)]
    assert "fee: `amount < 0` → `amount <= 0`" in keys
    assert "fee: `amount * bps // 10000` → `amount * bps * 10000`" in keys
    shifted = [m.key for m in mutants("import math\n\n\n" + MODULE)]
    assert shifted == keys  # unrelated lines above do not change any key
    assert len(set(keys)) == len(keys)


def test_score_record_touched_and_a_drop_fails_the_check(tmp_path: Path) -> None:
    tmp = project(tmp_path)
    first = run(tmp, "--json", "--record")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)["pkgfix.money"]
    assert result["total"] == len(mutants(MODULE)) and result["complete"]
    assert result["killed"] + result["survived"] == result["total"]
    recorded = json.loads((tmp / "mutation_scores.json").read_text())["pkgfix.money"]
    assert recorded["score"] == result["score"] and recorded["score"] >= 0.5

    untouched = run(tmp, "--touched", "--check")
    assert untouched.returncode == 0 and "no configured module changed" in untouched.stdout

    # Remove the exact-amount test: the module is unchanged but its tests are not, so it is touched, and
    # the mutants only that test killed (`*` → `//`, `10000` ± 1, …) now survive.
    (tmp / "tests_fix" / "test_money.py").write_text(TESTS.replace(EXACT, ""))
    dropped = run(tmp, "--touched", "--check", "--budget", "170")
    assert dropped.returncode == 1, dropped.stdout + dropped.stderr
    assert "mutation check FAILED: pkgfix.money: score" in dropped.stderr
    assert f"below {recorded['score']:.2%}" in dropped.stderr

    # Restored with one more test: touched again, re-measured, no lower: it passes (and says how to record).
    (tmp / "tests_fix" / "test_money.py").write_text(
        TESTS + "\n\ndef test_one_more() -> None:\n    assert fee(1, 1) == 0\n"
    )
    restored = run(tmp, "--touched", "--check")
    assert restored.returncode == 0, restored.stderr
    assert "mutation check passed" in restored.stderr and "--touched --record" in restored.stderr


def test_equivalents_are_not_counted_and_a_bad_config_is_refused(tmp_path: Path) -> None:
    tmp = project(tmp_path)
    key = "fee: `amount < 0` → `amount <= 0`"  # not equivalent: the mutant refuses fee(0, 30)
    (tmp / "mutation.toml").write_text(
        CONFIG + f'\n[[modules."pkgfix.money".equivalent]]\nkey = "{key}"\nreason = "test of the marking"\n'
    )
    quick = json.loads(run(tmp, "--json").stdout)["pkgfix.money"]
    assert quick["equivalent"] == 1 and quick["equivalent_killed"] == []  # marked: not run by default
    assert quick["killed"] + quick["survived"] == quick["total"] - 1
    out = run(tmp, "--json", "--verify-equivalents")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)["pkgfix.money"]
    assert result["equivalent"] == 1
    assert result["equivalent_killed"] == [key]  # a test kills it: the report says it is not equivalent
    assert result["killed"] + result["survived"] == result["total"] - 1

    (tmp / "mutation.toml").write_text(CONFIG.replace("tests_fix/test_money.py", "tests_fix/missing.py"))
    bad = run(tmp)
    assert bad.returncode == 2 and "needs existing test files" in bad.stderr
    unknown = run(tmp, "pkgfix.nothing")
    assert unknown.returncode == 2


def test_the_covered_modules_keep_their_recorded_scores() -> None:
    """The CI rule on this repository: modules whose content hash differs from the record are re-measured
    (within the 3-minute budget) and must not score below their recorded score or target."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--touched", "--check", "--budget", "170"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
