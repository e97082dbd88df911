"""Margin calls, declarations and close-outs by the rules, from the auditor's own books.

 - `margin-call` (per margin-call row with an amount, after the batch's transfers, before its default rows,
   i.e. the member as the vault sees it when the engine decides): a new call needs a breach, equity at the
   batch's posted marks and haircuts below the posted MM or an outstanding advance; a call re-posted while
   open needs the member still uncured (equity below IM or debt). Its deadline is at least the registry's
   `minCureS` after the asOf of the batch that opened the call (a call with deadline 0 is refused).
 - `declare` (timing; the on-chain call itself is checked in checks/defaults.py): a DECLARE only on a call
   opened in an earlier batch (a member called and declared in the same batch never had a cure period).
 - `auction-fill` (per fill, in order, on the auditor's positions before the batch): a fill of an
   auction-kind venue has exactly one side closed out: in default (declared in an earlier batch), or, with
   neither side in default, with an exit request open (or cancelled since the previous batch: a fill ingested
   while it was open), the engine's exit close-out (offchain/defaults/closeout.py); it reduces that side's
   position without crossing zero, and is priced within the instrument's registered band of the batch's
   mark or its previous mark; a member in default trades on no other venue.

Equity is the vault's `Margin.haircutValue` rule: Σ floor(balance × price × (1 − haircut) / 10**decimals)
over the assets with a posted mark, minus the debt (tests/audit ties it to the engine's copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import VaultReplay
from offchain.audit.published import PublishedBatch
from offchain.chain.registry import RegistryState
from offchain.core.batch import BPS, DECLARE, Batch
from offchain.core.context import BatchContext

AUCTION_KIND = "auction"


def haircut_equity(replay: VaultReplay, account: int) -> int:
    value = 0
    for asset, m in replay.marks.items():
        balance = replay.balances.get((account, asset), 0)
        if balance == 0 or m.price == 0:
            continue
        value += balance * m.price * (BPS - m.haircut_bps) // (10**m.decimals * BPS)
    return value - replay.debt.get(account, 0)


@dataclass
class CallChecker:
    min_cure_s: int
    opened: dict[int, tuple[int, int]] = field(default_factory=dict)  # account -> (sequence, asOf) of its open call

    def check_calls(self, batch: Batch, replay: VaultReplay) -> None:
        """Before the batch's default rows are applied (its transfers, marks and requirements are)."""
        seq = batch.sequence
        for c in batch.margin_calls:
            if c.amount == 0:
                continue  # a cure clears the call; checked by the vault's own bookkeeping
            equity = haircut_equity(replay, c.account)
            debt = replay.debt.get(c.account, 0)
            im, mm = replay.requirements.get(c.account, (0, 0))
            opened = self.opened.get(c.account)
            state = f"equity {equity}, debt {debt}, IM {im}, MM {mm}"
            if opened is None:
                if equity >= mm and debt == 0:
                    raise Discrepancy(
                        seq,
                        "margin-call",
                        f"account {c.account} is called for {c.amount} though it is not in breach ({state})",
                    )
                opened = (seq, batch.as_of)
            elif equity >= im and debt == 0:
                raise Discrepancy(
                    seq, "margin-call", f"account {c.account}'s call is re-posted though it has cured ({state})"
                )
            earliest = opened[1] + self.min_cure_s
            if c.deadline < earliest:
                raise Discrepancy(
                    seq,
                    "margin-call",
                    f"account {c.account}'s call has deadline {c.deadline}, before {earliest}: the call of batch "
                    f"{opened[0]} (asOf {opened[1]}) plus the registry's minimum cure of {self.min_cure_s} s",
                )
            self.opened[c.account] = opened
        for a in batch.default_actions:
            if a.action != DECLARE:
                continue
            opened = self.opened.get(a.account)
            if opened is None or opened[0] >= seq:
                raise Discrepancy(
                    seq,
                    "declare",
                    f"DECLARE of account {a.account}, whose margin call was not opened in an earlier batch "
                    "(no cure period)",
                )

    def after_rows(self, batch: Batch) -> None:
        for c in batch.margin_calls:
            if c.amount == 0:
                self.opened.pop(c.account, None)
        for a in batch.default_actions:
            if a.action == DECLARE:
                self.opened.pop(a.account, None)


def check_close_outs(
    batch: Batch,
    published: PublishedBatch,
    ctx: BatchContext,
    positions: Mapping[tuple[int, str], int],
    members: Mapping[str, int],
    replay: VaultReplay,
    registry: RegistryState,
    exiting: frozenset[int] = frozenset(),
) -> None:
    """`exiting`: the accounts an exit close-out may close out (request open, or cancelled since the last batch)."""
    seq = batch.sequence
    pos = dict(positions)
    for p in published.fills:
        f = p.fill
        ref = f"fill {f.venue}/{f.venue_fill_id}"
        buyer, seller = members[f.buyer], members[f.seller]
        venue = registry.venues[f.venue]
        defaulted = [a for a in (buyer, seller) if replay.fund.is_open(a)]
        if venue.kind == AUCTION_KIND:
            closed = defaulted or [a for a in (buyer, seller) if a in exiting]
            if len(closed) != 1:
                raise Discrepancy(
                    seq,
                    "auction-fill",
                    f"{ref} on the auction venue is between accounts {buyer} and {seller}, "
                    f"{'both' if len(closed) == 2 else 'neither'} in default or exiting: a close-out has exactly "
                    "one member closed out",
                )
            d = closed[0]
            held = pos.get((d, p.instrument), 0)
            change = f.qty if d == buyer else -f.qty
            if held == 0 or (held > 0) == (change > 0) or abs(change) > abs(held):
                raise Discrepancy(
                    seq,
                    "auction-fill",
                    f"{ref} moves defaulter {d}'s {p.instrument} position {held} by {change}: "
                    "a close-out only reduces it",
                )
            terms = registry.terms_at(p.instrument, batch.as_of)
            band = terms.price_band_bps if terms is not None else 0
            refs = [m for m in (ctx.marks.get(p.instrument), ctx.previous_marks.get(p.instrument)) if m]
            if not any(abs(f.price - m) * BPS <= band * m for m in refs):
                raise Discrepancy(
                    seq,
                    "auction-fill",
                    f"{ref} closes out at {f.price}, outside the registered band of {band} bps around the "
                    f"batch's mark {ctx.marks.get(p.instrument)} (previous {ctx.previous_marks.get(p.instrument)})",
                )
        elif defaulted:
            raise Discrepancy(
                seq,
                "auction-fill",
                f"{ref}: account {defaulted[0]} is in default and trades on venue {f.venue!r} "
                "(only the auction venue closes a defaulter out)",
            )
        pos[(buyer, p.instrument)] = pos.get((buyer, p.instrument), 0) + f.qty
        pos[(seller, p.instrument)] = pos.get((seller, p.instrument), 0) - f.qty
