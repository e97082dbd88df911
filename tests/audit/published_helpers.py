"""Editing published fill lines in tests."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from offchain.audit.published import fill_json, parse_fill
from offchain.core.eip712 import Domain
from offchain.core.fills import Fill


def middle_batch_with_fills(lines: list[dict[str, Any]]) -> int:
    """Index (in the file's lines, header = 0) of a batch in the middle of the history that settled at
    least two fills (a tamper there must not be caught by chance at the first batches)."""
    candidates = [i for i, line in enumerate(lines) if i and len(line.get("fills", [])) >= 2]
    return candidates[len(candidates) // 2]


def fill_of(obj: dict[str, Any]) -> Fill:
    return parse_fill(obj).fill


def resign(obj: dict[str, Any], key: Any, domain: Domain) -> dict[str, Any]:
    """The fill line `obj`, signed again with `key` (a venue's, or a forger's)."""
    p = parse_fill(obj)
    sig = bytes(Account.unsafe_sign_hash(p.fill.digest(domain), key).signature)
    return fill_json(type(p)(p.fill, p.instrument, sig))
