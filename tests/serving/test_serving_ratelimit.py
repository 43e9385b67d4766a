"""Token buckets: golden waits computed by hand on a controlled clock."""

from __future__ import annotations

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
