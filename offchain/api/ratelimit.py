"""Per-key token buckets, in process.

Each key (a session's address, a request signer, a venue, or an anonymous client's IP) has a bucket of
`burst` tokens refilled at `rate` tokens a second; a request takes one token (a bulk of fills one per
fill) or is refused with 429 `rate_limited` and a Retry-After header. With several API processes each
enforces its own buckets (the effective limit is N times the configured one); a shared limiter
(Redis, or the load balancer) is the production replacement.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from offchain.api.errors import ApiError

_MAX_KEYS = 100_000  # idle buckets beyond this are dropped (they are full anyway once idle long enough)


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: int = 1) -> None:
        """Take `cost` tokens for `key` or raise 429."""
        now = self._clock()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                if len(self._buckets) >= _MAX_KEYS:
                    self._evict(now)
                b = self._buckets[key] = _Bucket(float(self.burst), now)
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            b.at = now
            if cost > self.burst:
                raise ApiError(
                    429, "rate_limited", f"a request may cost at most {self.burst} tokens, this costs {cost}"
                )
            if b.tokens < cost:
                wait = math.ceil((cost - b.tokens) / self.rate)
                raise ApiError(429, "rate_limited", f"limit for {key}; retry in {wait} s", {"Retry-After": str(wait)})
            b.tokens -= cost

    def _evict(self, now: float) -> None:
        full_after = self.burst / self.rate
        for k in [k for k, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[k]
        if len(self._buckets) >= _MAX_KEYS:
            self._buckets.clear()
