"""The one trading calendar: XSHG (Shanghai) for ``cn``, XNYS (New York) for ``us``.

Sessions come from the maintained ``exchange-calendars`` library, never from a hand-written
holiday list: call deadlines (T+2 trading days), VaR and outcome windows all count the same
days. The library records XSHG holidays only through the end of its last published year
(2026-12-31 in 4.13.2, and no newer release); the SSE announces a year's closures each
December. Past the recorded horizon the calendar assumes **Monday to Friday sessions**
(``FALLBACK_THROUGH`` at most) less the PRC's fixed-date holidays on XSHG (Jan 1, May 1-2,
Oct 1-7), so nothing that counts trading days fails from the last week of 2026 on. That is a
stated limitation (README, "Rules and conventions"): the lunar holidays (Spring Festival,
Dragon Boat, Mid-Autumn) and Qingming move each year and are not estimated, so an estimated
session may fall on one and a call deadline may come a few days early; ``is_estimated`` says
whether a day is past the recorded horizon. Upgrade the library when it records the year.

Pure lookups over a cached, immutable array of session dates; no clock: callers pass dates.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

from creditdesk.errors import InputError

EXCHANGE_BY_REGIME: dict[str, str] = {"cn": "XSHG", "us": "XNYS"}
# Explicit bounds keep the calendar independent of today's date (the library's default end is
# "a year from now"). XSHG: the library's own recorded range.
_BOUNDS: dict[str, tuple[str | None, str | None]] = {
    "XSHG": (None, None),
    "XNYS": ("1990-01-01", "2035-12-31"),
}


FALLBACK_THROUGH = np.datetime64("2199-12-31", "D")  # the business-time bound (creditdesk.business_time)
# Fixed-date closures assumed past the recorded horizon, as (month, day). XSHG: State Council,
# 全国年节及纪念日放假办法 (2024 revision, in force 2025-01-01): New Year's Day Jan 1, Labour Day
# May 1-2, National Day Oct 1-3; the SSE has also closed Oct 4-7 every year since 2009.
ESTIMATED_FIXED_HOLIDAYS: dict[str, tuple[tuple[int, int], ...]] = {
    "XSHG": ((1, 1), (5, 1), (5, 2), *((10, d) for d in range(1, 8))),
    "XNYS": (),
}


class CalendarRangeError(InputError):
    """A date before the exchange's first session or past ``FALLBACK_THROUGH``."""


def exchange_for(regime: str) -> str:
    """The exchange whose sessions a regime counts (cn -> XSHG, us -> XNYS)."""
    try:
        return EXCHANGE_BY_REGIME[regime]
    except KeyError as exc:
        raise InputError(
            f"regime must be one of {sorted(EXCHANGE_BY_REGIME)}, got {regime!r}", field="regime"
        ) from exc


@lru_cache(maxsize=4)
def sessions(exchange: str) -> np.ndarray:
    """The recorded session dates of ``exchange`` as sorted ``datetime64[D]`` (read-only, cached)."""
    import exchange_calendars as xcals

    if exchange not in _BOUNDS:
        raise InputError(f"exchange must be one of {sorted(_BOUNDS)}, got {exchange!r}", field="exchange")
    from exchange_calendars.exchange_calendar_xshg import XSHGExchangeCalendar

    start, end = _BOUNDS[exchange]
    if exchange == "XSHG":
        start, end = (
            str(XSHGExchangeCalendar.bound_min().date()),
            str(XSHGExchangeCalendar.bound_max().date()),
        )
    cal = xcals.get_calendar(exchange, start=start, end=end)
    days = cal.sessions.to_numpy().astype("datetime64[D]")
    days.setflags(write=False)
    return days


@lru_cache(maxsize=4)
def _calendar(exchange: str) -> np.ndarray:
    """The recorded sessions, then Monday-Friday less the fixed holidays through ``FALLBACK_THROUGH``."""
    recorded = sessions(exchange)
    after = np.arange(recorded[-1] + 1, FALLBACK_THROUGH + 1, dtype="datetime64[D]")
    weekday = (after.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
    month_day = (after - after.astype("datetime64[M]")).astype(np.int64) + 1
    month = after.astype("datetime64[M]").astype(np.int64) % 12 + 1
    holiday = np.zeros(after.shape, dtype=bool)
    for m, d in ESTIMATED_FIXED_HOLIDAYS[exchange]:
        holiday |= (month == m) & (month_day == d)
    days = np.concatenate([recorded, after[(weekday < 5) & ~holiday]])
    days.setflags(write=False)
    return days


def recorded_through(regime: str) -> dt.date:
    """The last session the library records for the regime's exchange (the fallback's start)."""
    last: dt.date = sessions(exchange_for(regime))[-1].item()
    return last


def is_estimated(regime: str, day: dt.date) -> bool:
    """Whether ``day`` lies past the recorded horizon (its session status is the weekday rule)."""
    return day > recorded_through(regime)


def _as_days(days: dt.date | np.ndarray | list[dt.date]) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]")


def _check_range(exchange: str, days: np.ndarray, field: str) -> None:
    s = _calendar(exchange)
    if days.size and (days.min() < s[0] or days.max() > s[-1]):
        raise CalendarRangeError(
            f"{exchange} sessions run from {s[0]} (exchange-calendars; Monday-Friday assumed after "
            f"{sessions(exchange)[-1]}) to {s[-1]}; got {days.min()}..{days.max()}",
            field=field,
        )


def is_trading_day_many(regime: str, days: np.ndarray) -> np.ndarray:
    """Whether each of ``days`` is a session of the regime's exchange (bool array)."""
    exchange = exchange_for(regime)
    d = _as_days(days)
    _check_range(exchange, d, "day")
    s = _calendar(exchange)
    i = np.clip(np.searchsorted(s, d), 0, len(s) - 1)
    return np.asarray(s[i] == d)


def is_trading_day(regime: str, day: dt.date) -> bool:
    """Whether ``day`` is a session of the regime's exchange."""
    return bool(is_trading_day_many(regime, _as_days(day)))


def add_trading_days_many(regime: str, days: np.ndarray, n: int) -> np.ndarray:
    """The ``n``-th session strictly after each of ``days`` (n ≥ 1), as ``datetime64[D]``.

    A call issued on Friday 2026-02-13 with n = 2 has its deadline on the second following
    session: 2026-02-25 on XSHG (the exchange is shut 2026-02-16..23 for Spring Festival).
    A day that is itself a holiday counts from the next session.
    """
    if n < 1:
        raise InputError(f"n must be ≥ 1 trading day, got {n}", field="call_days")
    exchange = exchange_for(regime)
    d = _as_days(days)
    _check_range(exchange, d, "day")
    s = _calendar(exchange)
    idx = np.searchsorted(s, d, side="right") + (n - 1)
    if np.any(idx >= len(s)):
        raise CalendarRangeError(
            f"{exchange} sessions run only through {s[-1]}; {n} trading days after {d.max()} fall past it",
            field="day",
        )
    return np.asarray(s[idx])


def add_trading_days(regime: str, day: dt.date, n: int) -> dt.date:
    """The ``n``-th session strictly after ``day`` (see ``add_trading_days_many``)."""
    out: dt.date = add_trading_days_many(regime, _as_days(day), n).item()
    return out


def trading_days(regime: str, start: dt.date, end: dt.date) -> np.ndarray:
    """Sessions with ``start ≤ day ≤ end`` as ``datetime64[D]``."""
    exchange = exchange_for(regime)
    d = _as_days([start, end])
    _check_range(exchange, d, "day")
    s = _calendar(exchange)
    return s[np.searchsorted(s, d[0]) : np.searchsorted(s, d[1], side="right")]


def trading_days_between(regime: str, start: dt.date, end: dt.date) -> int:
    """Sessions strictly after ``start`` up to and including ``end`` (0 when end ≤ start)."""
    if end <= start:
        return 0
    return len(trading_days(regime, start + dt.timedelta(days=1), end))
