"""The base rate of the back-test's verdict: how often a correct model passes Kupiec and Christoffersen."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offchain.cli.risk_commands import summary
from offchain.risk.backtest import correct_model_pass_rate, kupiec_pass_probability, kupiec_pof
from offchain.risk.errors import ConfigError


def test_kupiec_pass_probability_is_the_binomial_mass_of_the_accepted_counts() -> None:
    n, p = 546, 0.01
    accepted = [x for x in range(n + 1) if kupiec_pof(x, n, p) >= 0.05]
    assert accepted == list(range(2, 11))  # 0-1 too few, 11+ too many for 5.46 expected
    exact = sum(math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in accepted)
    assert kupiec_pass_probability(n, p) == pytest.approx(exact, rel=1e-12)
    with pytest.raises(ConfigError):
        kupiec_pass_probability(0, p)


def test_a_correct_model_fails_some_rows() -> None:
    n, p = 546, 0.01
    rate = correct_model_pass_rate(n, p, sims=4_000, seed=1)
    se = math.sqrt(rate * (1 - rate) / 4_000)
    # Passing both tests is rarer than passing Kupiec alone (the independence test rejects some too) ...
    assert rate <= kupiec_pass_probability(n, p) + 3 * se
    assert 0.88 < rate < 0.95
    # ... so over 52 rows a correct model is expected to fail several and rarely passes them all.
    assert 52 * (1 - rate) > 2.5 and rate**52 < 0.05
    assert correct_model_pass_rate(n, p, sims=500, seed=7) == correct_model_pass_rate(n, p, sims=500, seed=7)
    with pytest.raises(ConfigError):
        correct_model_pass_rate(n, p, sims=0)


def test_summary_reports_the_correct_model_baseline() -> None:
    rows = [
        {"name": f"r{k}", "tested": True, "observations": n, "pass": True, "es_pass": True, "im_pass": True,
         "im_vs_naive": 1.0}
        for k, n in enumerate([546, 546, 415])
    ]  # fmt: skip
    s = summary(rows)
    r546, r415 = correct_model_pass_rate(546, 0.01), correct_model_pass_rate(415, 0.01)
    assert s["correct_model_expected_failures"] == round(2 * (1 - r546) + (1 - r415), 2)
    assert s["correct_model_all_pass_p"] == round(r546**2 * r415, 4)
    assert np.isclose(s["mean_im_vs_naive"], 1.0)
