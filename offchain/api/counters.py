"""What the API keeps of requests it could not authenticate: a count per refusal code, in memory.

A forged fill, a login whose signature does not recover or a token that fails its MAC proves nothing
about who sent it, so nothing about it is written to the ledger (an attacker could otherwise fill tables
at line rate). The count per code is all that is kept: bounded (the codes are the API's own, and at most
`MAX_CODES` distinct ones are kept), aggregated, and shown by `GET /v1/health`.
"""

from __future__ import annotations

import threading

MAX_CODES = 64


class RefusalCounter:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, code: str, n: int = 1) -> None:
        with self._lock:
            if code in self._counts or len(self._counts) < MAX_CODES:
                self._counts[code] = self._counts.get(code, 0) + n
            else:
                self._counts["other"] = self._counts.get("other", 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))
