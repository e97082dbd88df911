"""The auditor's summary for people."""

from __future__ import annotations

from offchain.audit.runner import AuditReport


def summary(r: AuditReport) -> str:
    lines = [
        f"vault {r.vault} on chain {r.chain_id}, audited at block {r.block}",
        f"batches {r.batches}, fills {r.fills}, accounts {r.accounts} ({r.members} members), assets {len(r.assets)}",
    ]
    for a in r.assets:
        lines.append(
            f"  asset {a.asset} ({a.token}): owed {a.owed} = balances {a.balances} + pending withdrawals "
            f"{a.pending}; held {a.held} (surplus {a.surplus})"
        )
    t = r.timings
    lines.append(
        f"time {r.seconds:.2f} s (reading the chain {t.get('read', 0.0):.2f} s, checks {t.get('check', 0.0):.2f} s, "
        f"end state {t.get('final', 0.0):.2f} s)"
    )
    lines.append("audit passed")
    return "\n".join(lines)
