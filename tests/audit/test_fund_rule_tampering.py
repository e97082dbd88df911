"""Default-fund contributions by the published rule (`contribution`) and withdrawal approvals against the
re-derived IM (`withdrawal-approval`), each tamper settled on Anvil (signed by the risk signers, accepted by
the vault) and caught by name; the honest counterparts pass.

Contributions: on the default history, the replenishment batch after the CLOSE (the engine tops every
survivor up to its new Cover-2 target) is re-settled with altered contribution rows. Approvals: on the first
history, a hand-built batch by the engine's rules releases a pending withdrawal."""

from __future__ import annotations

from offchain.chain.vault import vault_sender
from offchain.core.batch import Contribution
from tests.audit.conftest import DefaultHistory, History
from tests.audit.default_history import settle_signed
from tests.audit.history import MM, RETAIL
from tests.audit.rederive_helpers import HandBuilt, settle_hand_built

USDC = 10**6


def _replenish_with(h: DefaultHistory, edit: dict[int, int | None]) -> int:
    """Inside `at_cover`: the honest COVER batch, then the replenishment with rows edited (account -> new
    amount, None drops the row); returns its sequence."""
    assert h.tail is not None
    cover, replenish = h.tail.batches
    rows = {c.account: c.amount for c in replenish.contributions}
    assert set(edit) <= set(rows), f"the replenishment tops up {sorted(rows)}"
    for account, amount in edit.items():
        if amount is None:
            del rows[account]
        else:
            rows[account] = amount
    tampered = replenish.model_copy(
        update={"contributions": tuple(Contribution(account=a, amount=v) for a, v in sorted(rows.items()))}
    )
    settle_signed(h.devnet, cover)
    settle_signed(h.devnet, tampered)
    return tampered.sequence


def _rows(h: DefaultHistory) -> dict[int, int]:
    assert h.tail is not None
    return {c.account: c.amount for c in h.tail.batches[1].contributions}


def test_the_replenishment_resettled_unaltered_passes(default_history: DefaultHistory) -> None:
    h = default_history
    with h.at_cover():
        _replenish_with(h, {})
        assert h.audit().batches == h.tail.batches[1].sequence  # type: ignore[union-attr]


def test_a_contribution_beyond_the_cover2_target(default_history: DefaultHistory) -> None:
    """The operator takes 1,000 USDC more of a member's cash into the default fund than its target."""
    h = default_history
    account, amount = max(_rows(h).items())
    with h.at_cover():
        seq = _replenish_with(h, {account: amount + 1_000 * USDC})
        h.expect(h.published, "contribution", seq, f"account {account} is topped up by", "Cover-2 target")


def test_a_short_top_up_from_a_member_holding_the_cash(default_history: DefaultHistory) -> None:
    h = default_history
    account, amount = min(_rows(h).items())
    with h.at_cover():
        seq = _replenish_with(h, {account: amount // 2})
        h.expect(h.published, "contribution", seq, f"account {account} is topped up by {amount // 2}", "of cash")


def test_a_member_spared_its_top_up(default_history: DefaultHistory) -> None:
    """One survivor is left below its target (its row dropped) while the others are topped up."""
    h = default_history
    account = sorted(_rows(h))[1]
    with h.at_cover():
        seq = _replenish_with(h, {account: None})
        h.expect(h.published, "contribution", seq, f"account {account} is topped up by 0", "of cash")


def _request(history: History, name: str, amount: int) -> int:
    d = history.devnet
    m = d.member(name)
    return int(d.vault.request_withdrawal(vault_sender(d.vault.w3, m.key), 0, amount, m.address))


def test_an_approval_within_the_re_derived_im_passes(history: History) -> None:
    """The retail pool's pending 500 USDC withdrawal, released by a batch by the rule: its equity stays above
    the re-derived IM."""
    d = history.devnet
    retail = d.member(RETAIL).account
    (wid,) = [
        w for w in range(1, 20) if d.vault.withdrawal(w).status == "pending" and d.vault.withdrawal(w).account == retail
    ]
    with history.snapshot():
        seq, path = settle_hand_built(history, HandBuilt(approvals=(d.vault.approval(wid),)))
        assert history.audit(path).batches == seq


def test_an_approval_beyond_the_re_derived_free_collateral(history: History) -> None:
    """A member withdraws all its free collateral (the vault lets it: its equity then equals the posted IM);
    the next batch moves the marks 2% up (its IM grows with the notional) and releases the withdrawal at once.
    The vault accepts the approval (it checks margin only at execution, against the IM posted then)."""
    d = history.devnet
    account = d.member(MM).account
    with history.snapshot():
        free = d.vault.free_collateral(account)
        assert free > 0
        wid = _request(history, MM, min(free, d.vault.balance(account, 0)))
        how = HandBuilt(move_marks_bps=200, approvals=(d.vault.approval(wid),))
        seq, path = settle_hand_built(history, how)
        history.expect(path, "withdrawal-approval", seq, f"withdrawal {wid}", f"account {account}", "re-derived IM")
