"""What travels between the engine and a co-signer: a proposed batch (its rows as the vault's words, in
hex) and its published line (offchain/audit/published.py), as JSON."""

from __future__ import annotations

from typing import Any

from offchain.core.batch import Batch, decode_batch_words


def batch_json(b: Batch) -> dict[str, Any]:
    words, default_words = b.words(), b.default_words()
    return {
        "sequence": b.sequence,
        "prev_hash": b.prev_hash.hex(),
        "as_of": b.as_of,
        "fills_root": b.fills_root.hex(),
        "transfers": [w.hex() for w in words[0]],
        "requirements": [w.hex() for w in words[1]],
        "marks": [w.hex() for w in words[2]],
        "approved_withdrawals": [str(x) for x in b.approved_withdrawals],
        "context_hash": b.context_hash.hex(),
        "contributions": [w.hex() for w in default_words[0]],
        "margin_calls": [w.hex() for w in default_words[1]],
        "default_actions": [w.hex() for w in default_words[2]],
        "valid_until": b.valid_until,
    }


def batch_from_json(b: dict[str, Any]) -> Batch:
    """The batch (ValueError, KeyError or TypeError on malformed input)."""
    return decode_batch_words(
        int(b["sequence"]),
        bytes.fromhex(b["prev_hash"]),
        int(b["as_of"]),
        bytes.fromhex(b["fills_root"]),
        [bytes.fromhex(w) for w in b["transfers"]],
        [bytes.fromhex(w) for w in b["requirements"]],
        [bytes.fromhex(w) for w in b["marks"]],
        [int(x) for x in b["approved_withdrawals"]],
        bytes.fromhex(b["context_hash"]),
        [bytes.fromhex(w) for w in b.get("contributions", [])],
        [bytes.fromhex(w) for w in b.get("margin_calls", [])],
        [bytes.fromhex(w) for w in b.get("default_actions", [])],
        int(b.get("valid_until", -1)),
    )
