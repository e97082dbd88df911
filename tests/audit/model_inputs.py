"""The risk-model inputs the engine publishes for the devnet's default model (collateral USDC, WETH, WBTC,
TBILL; the BTC and ETH perpetuals), for checks tests that rebuild a real model without building the engine."""

from __future__ import annotations

import json

COLLATERAL: list[dict[str, object]] = [
    {"asset": 0, "decimals": 6, "factor": None, "floor": 0.0, "horizon_days": 2.0, "max_share": 1.0,
     "symbol": "USDC", "tiers": None},
    {"asset": 1, "decimals": 18, "factor": "ETH", "floor": 0.0, "horizon_days": 2.0, "max_share": 1.0,
     "symbol": "WETH", "tiers": None},
    {"asset": 2, "decimals": 8, "factor": "BTC", "floor": 0.0, "horizon_days": 2.0, "max_share": 1.0,
     "symbol": "WBTC", "tiers": None},
    {"asset": 3, "decimals": 6, "factor": None, "floor": 0.02, "horizon_days": 2.0, "max_share": 1.0,
     "symbol": "TBILL", "tiers": None},
]  # fmt: skip
INSTRUMENTS = [["BTC-USD-PERP", "perp", "BTC"], ["ETH-USD-PERP", "perp", "ETH"]]


def inputs(**changes: object) -> str:
    """The inputs text, with top-level fields replaced."""
    body = {"collateral": COLLATERAL, "instruments": INSTRUMENTS, "ledger": None, "seed_end": "2022-11-01"}
    return json.dumps({**body, **changes}, sort_keys=True, separators=(",", ":"))


INPUTS = inputs()
