"""Helpers shared by the margin tests (imported as ``tests.margin.margin_support``)."""

from __future__ import annotations

START_NS = 1_768_000_000 * 10**9  # 2026-01-09 23:06:40 UTC, the scenarios' business time


class Clock:
    """Business time as an input: ``ns`` is the time now; each call moves it on by ``step_ns``.

    ``step_ns=0`` holds time still (the test moves ``ns`` itself); a step keeps the ledger's
    stamps strictly increasing when the test does not care about the time of each event.
    """

    def __init__(self, step_ns: int = 0, start_ns: int = START_NS) -> None:
        self.ns = start_ns
        self.step_ns = step_ns

    def __call__(self) -> int:
        self.ns += self.step_ns
        return self.ns
