"""Business time as an input: every ledger and margin operation takes an explicit time.

The CLI (``--at``) and the HTTP API (an ``at`` field) pass the time a scenario says it is,
so a book can be replayed over past dates; only the edge falls back to the wall clock when
the caller gives none. Domain code receives nanoseconds since the epoch (UTC) and the
business *day* in the exchange's own time zone (a 23:30 UTC tick is already tomorrow in
Shanghai).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from creditdesk.errors import InputError

TIMEZONE_BY_REGIME: dict[str, str] = {"cn": "Asia/Shanghai", "us": "America/New_York"}
NS_PER_SECOND = 10**9
# dates outside this range are input mistakes, not scenarios
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2199, 12, 31, tzinfo=dt.UTC)


def parse_at(text: str | None, now_ns: int, regime: str = "cn") -> int:
    """``--at`` / ``at`` → ns since the epoch; ``None`` → ``now_ns`` (the edge's clock).

    Accepts an ISO date (``2026-02-13``: midnight in the regime's exchange time zone) or an
    ISO date-time with an offset (``2026-02-13T15:00:00+08:00``). A date-time without an
    offset is refused: it would mean different instants on different machines.
    """
    if text is None:
        return now_ns
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(exchange_tz(regime)))
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"at must be an ISO date (YYYY-MM-DD) or date-time with offset, got {text!r}", field="at"
        ) from exc
    if moment.tzinfo is None:
        raise InputError(f"at needs a UTC offset (e.g. +08:00), got {text!r}", field="at")
    if not EARLIEST <= moment <= LATEST:
        raise InputError(
            f"at must be between {EARLIEST.date()} and {LATEST.date()}, got {text!r}", field="at"
        )
    return int(moment.timestamp()) * NS_PER_SECOND + moment.microsecond * 1_000


def exchange_tz(regime: str) -> str:
    try:
        return TIMEZONE_BY_REGIME[regime]
    except KeyError as exc:
        raise InputError(
            f"regime must be one of {sorted(TIMEZONE_BY_REGIME)}, got {regime!r}", field="regime"
        ) from exc


def business_day(at_ns: int, regime: str = "cn") -> dt.date:
    """The calendar day of ``at_ns`` in the regime's exchange time zone."""
    moment = dt.datetime.fromtimestamp(at_ns / NS_PER_SECOND, tz=ZoneInfo(exchange_tz(regime)))
    return moment.date()


def refuse_before_opening(at_ns: int, opened_at_ns: int) -> None:
    """An operation dated before its facility opened is a mistake: nothing is written."""
    if at_ns < opened_at_ns:
        opened = dt.datetime.fromtimestamp(opened_at_ns / NS_PER_SECOND, tz=dt.UTC).isoformat()
        at = dt.datetime.fromtimestamp(at_ns / NS_PER_SECOND, tz=dt.UTC).isoformat()
        raise InputError(f"at {at} is before the facility opened at {opened}", field="at")


class BusinessClock:
    """A clock that reads the business time given and then ticks 1 ns a reading (so the
    operations of one request or one CLI run keep their order in the books)."""

    def __init__(self, at_ns: int) -> None:
        self.at_ns = at_ns - 1

    def __call__(self) -> int:
        self.at_ns += 1
        return self.at_ns
