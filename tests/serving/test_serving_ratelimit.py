"""Token buckets: golden waits computed by hand on a controlled clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate_golden_values() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)  # 1 token per second
    assert [limiter.check("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("k") == pytest.approx(1.0)  # empty: one full second to the next token
    clock.now += 0.25
    assert limiter.check("k") == pytest.approx(0.75)  # a refused request costs nothing
    clock.now += 0.75
    assert limiter.check("k") == 0.0
    assert limiter.check("other") == 0.0  # buckets are per key


def test_idle_bucket_refills_only_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=120, burst=2, clock=clock)
    limiter.check("k")
    clock.now += 3600
    assert [limiter.check("k") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert RateLimiter.retry_after_header(0.01) == "1"
    assert RateLimiter.retry_after_header(1.0) == "1"
    assert RateLimiter.retry_after_header(1.2) == "2"


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.floats(1, 10_000),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 5), min_size=1, max_size=200),
)
def test_never_admits_more_than_burst_plus_rate_times_elapsed(
    per_minute: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=per_minute, burst=burst, clock=clock)
    start = clock.now
    admitted = 0
    for gap in gaps:
        clock.now += gap
        if limiter.check("k") == 0.0:
            admitted += 1
    assert admitted <= burst + (clock.now - start) * per_minute / 60 + 1e-9


def test_the_limit_holds_across_workers_sharing_the_database(tmp_path: Any) -> None:
    """Issue 16: per-process buckets let N workers admit N times the rate. Two limiters on
    one database (two workers) together admit at most burst + rate × elapsed."""
    from serving.db import dispose_engines, get_engine, migrate
    from serving.ratelimit import SharedRateLimiter

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate(url)
    now = [1_000.0]
    workers = [
        SharedRateLimiter(get_engine(url), per_minute=60, burst=10, clock=lambda: now[0], lease=3)
        for _ in range(2)
    ]
    admitted = sum(workers[i % 2].check("k") == 0.0 for i in range(40))
    assert admitted == 10  # the burst, shared: not 10 per worker
    assert workers[0].check("k") == pytest.approx(1.0)  # wait for the next token (1 per second)
    now[0] += 5.0  # five more tokens
    admitted = sum(workers[i % 2].check("k") == 0.0 for i in range(40))
    assert admitted == 5
    assert workers[1].check("other") == 0.0  # keys are independent
    dispose_engines()


def test_a_worker_whose_clock_reading_is_older_than_the_bucket_is_not_refused(tmp_path: Any) -> None:
    """Seen in bench_serving (2 workers, 16 connections, 1e8 requests/minute): a 429 with the
    bucket nearly full. A worker read the clock, then waited for the bucket's lock while the
    other worker wrote a later ``updated_at``; the negative elapsed time times the rate
    debited tokens nobody spent. Elapsed time is never negative."""
    from serving.db import dispose_engines, get_engine, migrate
    from serving.ratelimit import SharedRateLimiter

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate(url)
    later = SharedRateLimiter(get_engine(url), per_minute=1e8, burst=100_000, clock=lambda: 1_000.5)
    earlier = SharedRateLimiter(get_engine(url), per_minute=1e8, burst=100_000, clock=lambda: 1_000.0)
    assert later.check("k") == 0.0  # the bucket now says updated at 1000.5, nearly full
    assert earlier.check("k") == 0.0  # read 1000.0 before the lock: still plenty of tokens
    dispose_engines()
