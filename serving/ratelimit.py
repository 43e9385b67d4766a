"""Per-key token buckets: a burst allowance refilled at a steady rate.

``SharedRateLimiter`` (the default, ``CREDITDESK_RATE_LIMIT_BACKEND=database``) keeps one
bucket per key in the service database, so the limit holds across uvicorn workers and
replicas on one database. ``RateLimiter`` (``=memory``) keeps it per process: with N
workers a key's ceiling is N times the configured rate. Memory is bounded: idle buckets
are full again anyway, so they are dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving.db import rate_buckets


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


class SharedRateLimiter(RateLimiter):
    """One bucket per key for ALL workers, kept in the service database (the default).

    Each worker leases tokens from the shared bucket in small batches (at most ``lease``,
    never more than the bucket holds) and spends them locally, so a database round trip
    is paid once per lease, not per request. The guarantee is the one of a single bucket:
    across every worker a key is admitted at most ``burst + rate × elapsed`` times, because
    a token is debited from the shared row before any worker spends it (a leased token a
    worker never uses is lost, never duplicated). Wall-clock time, shared by the workers.
    """

    def __init__(
        self,
        engine: Engine,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.time,
        lease: int | None = None,
    ) -> None:
        super().__init__(per_minute, burst, clock)
        self.engine = engine
        self.lease = lease if lease is not None else max(1, min(burst // 8, 20))
        self._local: dict[str, int] = {}

    def check(self, key: str) -> float:
        with self._lock:
            if self._local.get(key, 0) >= 1:
                self._local[key] -= 1
                return 0.0
            taken, wait_s = self._take(key)
            if taken == 0:
                return wait_s
            if len(self._local) >= self.MAX_BUCKETS:
                self._local.clear()
            self._local[key] = taken - 1
            return 0.0

    def _take(self, key: str) -> tuple[int, float]:
        """Debit up to ``lease`` whole tokens from the shared bucket: (taken, wait if none)."""
        with self.engine.begin() as conn:
            # Take the write lock first (SQLite) / the row lock (PostgreSQL), then read.
            conn.execute(
                rate_buckets.update().where(rate_buckets.c.key_id == key).values(key_id=rate_buckets.c.key_id)
            )
            now = self._clock()  # after the lock: the other workers' writes are all earlier
            query = sa.select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(
                rate_buckets.c.key_id == key
            )
            if conn.dialect.name != "sqlite":
                query = query.with_for_update()
            row = conn.execute(query).first()
            # Elapsed time is never negative: a clock read that is older than the bucket's
            # (another worker, a clock step back) refills nothing, it never debits.
            since = now if row is None else max(now, row.updated_at)
            tokens = (
                self.burst
                if row is None
                else min(self.burst, row.tokens + (since - row.updated_at) * self.rate_per_s)
            )
            taken = max(0, min(self.lease, math.floor(tokens)))
            values = {"tokens": tokens - taken, "updated_at": since}
            if row is None:
                conn.execute(rate_buckets.insert().values(key_id=key, **values))
            else:
                conn.execute(rate_buckets.update().where(rate_buckets.c.key_id == key).values(**values))
        return taken, 0.0 if taken else (1.0 - tokens) / self.rate_per_s
