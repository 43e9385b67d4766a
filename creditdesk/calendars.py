"""The one trading calendar: XSHG (Shanghai) for ``cn``, XNYS (New York) for ``us``.

Sessions come from the maintained ``exchange-calendars`` library, never from a hand-written
holiday list: call deadlines (T+2 trading days), VaR and outcome windows all count the same
days. The library records XSHG holidays only through the end of its last published year
(2026-12-31 in 4.13.2); a date past that is refused with a clear error rather than guessed —
upgrade the library when the exchange publishes the next year's holidays.

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


class CalendarRangeError(InputError):
    """A date outside the years the exchange calendar records."""


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
    """All session dates of ``exchange`` as sorted ``datetime64[D]`` (read-only, cached)."""
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


def _as_days(days: dt.date | np.ndarray | list[dt.date]) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]")


def _check_range(exchange: str, days: np.ndarray, field: str) -> None:
    s = sessions(exchange)
    if days.size and (days.min() < s[0] or days.max() > s[-1]):
        raise CalendarRangeError(
            f"{exchange} sessions are recorded from {s[0]} to {s[-1]} (exchange-calendars); "
            f"got {days.min()}..{days.max()}",
            field=field,
        )


def is_trading_day_many(regime: str, days: np.ndarray) -> np.ndarray:
    """Whether each of ``days`` is a session of the regime's exchange (bool array)."""
    exchange = exchange_for(regime)
    d = _as_days(days)
    _check_range(exchange, d, "day")
    s = sessions(exchange)
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
    s = sessions(exchange)
    idx = np.searchsorted(s, d, side="right") + (n - 1)
    if np.any(idx >= len(s)):
        raise CalendarRangeError(
            f"{exchange} sessions are recorded only through {s[-1]}; {n} trading days after {d.max()} "
            "fall past it",
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
    s = sessions(exchange)
    return s[np.searchsorted(s, d[0]) : np.searchsorted(s, d[1], side="right")]


def trading_days_between(regime: str, start: dt.date, end: dt.date) -> int:
    """Sessions strictly after ``start`` up to and including ``end`` (0 when end ≤ start)."""
    if end <= start:
        return 0
    return len(trading_days(regime, start + dt.timedelta(days=1), end))
