"""Position limits from the tier table: a clear rejection code beyond the limit, reductions always allowed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.core.obligations import InstrumentSpec
from offchain.devnet.bootstrap import DEFAULT_COLLATERAL, DEFAULT_INSTRUMENTS
from offchain.risk.errors import ConfigError
from offchain.risk.limits import POSITION_LIMIT, check_position_limit
from offchain.risk.tiers import DEFAULT_TIERS
from offchain.settlement.margin import CollateralSpec, build_risk_margin

TIER3 = DEFAULT_TIERS[2]  # 1 x depth


def test_beyond_the_limit_is_refused_with_a_code() -> None:
    assert check_position_limit(TIER3, "BTC-USD-PERP", 0, 90, 100) is None
    breach = check_position_limit(TIER3, "BTC-USD-PERP", 90, 120, 100)
    assert breach is not None and breach.code == POSITION_LIMIT
    assert "net position 120 would exceed the tier3 limit 100 (1 x depth 100)" in breach.detail
    assert check_position_limit(TIER3, "X", 0, -101, 100) is not None
    with pytest.raises(ConfigError):
        check_position_limit(TIER3, "X", 0, 1, float("nan"))


def test_reducing_an_over_limit_position_is_allowed() -> None:
    assert check_position_limit(TIER3, "X", 300, 200, 100) is None
    assert check_position_limit(TIER3, "X", -300, -150, 100) is None
    assert check_position_limit(TIER3, "X", 300, -250, 100) is not None  # a flip beyond the limit is not a reduction


@given(before=st.floats(-1e6, 1e6), after=st.floats(-1e6, 1e6), depth=st.floats(0, 1e5))
def test_the_check_allows_exactly_within_limit_or_reducing(before: float, after: float, depth: float) -> None:
    breach = check_position_limit(TIER3, "X", before, after, depth)
    reducing = abs(after) <= abs(before) and after * before >= 0
    assert (breach is None) == (abs(after) <= depth or reducing)


def test_the_engine_checks_in_ledger_units_with_the_model_depth() -> None:
    ins = {i.name: InstrumentSpec(active=True, **i.model_dump()) for i in DEFAULT_INSTRUMENTS}
    m = build_risk_margin(ins, [CollateralSpec(**c.model_dump()) for c in DEFAULT_COLLATERAL], "2022-11-01")
    depth = float(m.model.depth[m.columns["BTC-USD-PERP"]])  # BTC perp: ~10 % of a day's volume, tens of thousands
    assert depth > 1_000
    unit = 10**8
    assert m.position_limit("tier1", "BTC-USD-PERP", 0, int(3 * depth * unit)) is None  # tier1: 4 x depth
    breach = m.position_limit("tier3", "BTC-USD-PERP", 0, int(1.5 * depth * unit))
    assert breach is not None and breach.code == POSITION_LIMIT
    with pytest.raises(ValueError, match="unknown tier"):
        m.position_limit("gold", "BTC-USD-PERP", 0, 1)
