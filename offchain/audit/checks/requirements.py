"""Are the margin requirements the vault holds consistent with the positions?

The auditor cannot rerun the risk model (its calibration data are not on-chain), so it checks what must
hold whatever the model, for every member whose positions or posted requirement changed in the batch,
against the requirement in force after the batch (the last row posted for it; none posted means 0/0):
 - a member with an open position in any instrument has IM > 0 and MM > 0;
 - MM ≤ IM (the vault refuses otherwise; checked all the same);
 - a member with no position and no collateral besides the settlement asset has IM == 0 and MM == 0
   (the model charges a flat member only for concentrated non-cash collateral, through its IM).
"""

from __future__ import annotations

from collections.abc import Iterable

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import VaultReplay
from offchain.core.batch import SETTLEMENT_ASSET


def check_requirements(seq: int, accounts: Iterable[int], holders: set[int], vault: VaultReplay) -> None:
    for account in sorted(accounts):
        im, mm = vault.requirements.get(account, (0, 0))
        if mm > im:
            raise Discrepancy(seq, "requirements", f"account {account}: MM {mm} exceeds IM {im}")
        if account in holders:
            if im == 0 or mm == 0:
                raise Discrepancy(
                    seq, "requirements", f"account {account} holds an open position but its posted IM is {im}, MM {mm}"
                )
            continue
        non_cash = any(vault.balances.get((account, asset), 0) for asset in vault.marks if asset != SETTLEMENT_ASSET)
        if not non_cash and (im or mm):
            raise Discrepancy(
                seq, "requirements", f"account {account} is flat and holds only cash but its posted IM is {im}, MM {mm}"
            )
