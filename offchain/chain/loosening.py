"""The loosening rules a new vault starts with (docs/contracts.md "Loosening", docs/operators.md step 2).

A module of its own, without web3, so the deployment settings read these without importing the chain layer.
"""

from __future__ import annotations

# A decrease of a member's IM/MM or of a haircut counts only after a day: at least the withdrawal delay, which the
# trust model's bound on margin manipulation needs (L >= D), and the period of the outflow budgets. A collateral's
# price may rise at most 25 % above its start-of-day mark within the day: more than liquid collateral rises on
# almost any day, while a compromised quorum can inflate a mark by only that much per day. A larger honest rise
# makes the batch revert (MarkOutsideBand), so governance widens the band for more volatile collateral.
DEFAULT_LOOSENING_DELAY_S: int = 24 * 3600
DEFAULT_MARK_BAND_BPS: int = 2_500
