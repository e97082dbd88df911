"""Shared fixtures: a small synthetic risk model (no market data) for property tests."""

from __future__ import annotations

import numpy as np

from offchain.risk.config import MarginConfig
from offchain.risk.instruments import Instrument, Kind, Universe
from offchain.risk.margin import RiskModel, core_risk


def make_model(
    n_instruments: int = 3,
    n_fhs: int = 200,
    n_stress: int = 40,
    seed: int = 7,
    depth: float = 1_000.0,
    config: MarginConfig | None = None,
) -> RiskModel:
    """A model over correlated fat-tailed returns; instrument 1 tracks instrument 0 closely."""
    cfg = config or MarginConfig()
    rng = np.random.default_rng(seed)
    s = n_fhs + n_stress
    base = rng.standard_t(4, size=(n_instruments, s)) * 0.02
    base[1] = base[0] + rng.normal(0, 0.001, size=s)
    base[:, n_fhs:] *= 3.0
    universe = Universe(tuple(Instrument(f"X{i}", Kind.PERP, f"F{i}", 1.0, 0.0005, None) for i in range(n_instruments)))
    n = n_instruments
    return RiskModel(
        universe=universe,
        returns=np.ascontiguousarray(base),
        n_fhs=n_fhs,
        es_long=core_risk(-base, n_fhs, cfg)[0],
        es_short=core_risk(base, n_fhs, cfg)[0],
        sigma=np.full(n, 0.02),
        adv=np.full(n, depth * 10),
        depth=np.full(n, depth),
        stress_label=np.repeat(np.arange(2), n_stress // 2).astype(np.int64),
        stress_names=("p0", "p1"),
    )
