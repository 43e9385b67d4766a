"""Per-key token buckets: a burst allowance refilled at a steady rate.

State is per process; with N uvicorn workers a key's effective ceiling is N times the
configured rate (documented in the README; a shared store would cost a round trip per
request). Memory is bounded: idle buckets are full again anyway, so they are dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``check(key)`` takes one token, or returns the seconds until one is available."""

    MAX_BUCKETS = 100_000

    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate_per_s = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """0.0 when allowed (a token was taken), else the wait in seconds before retrying."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
            if tokens >= 1.0:
                if len(self._buckets) >= self.MAX_BUCKETS and key not in self._buckets:
                    self._evict_full(now)
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
        return str(max(1, math.ceil(wait_s)))

    def _evict_full(self, now: float) -> None:
        full = [
            k
            for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate_per_s >= self.burst
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.MAX_BUCKETS:
            self._buckets.clear()
