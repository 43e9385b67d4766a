"""Golden tests for the shared day count (creditdesk/daycount.py) and trading calendar
(creditdesk/calendars.py), each citing the rule it pins."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from creditdesk.calendars import (
    CalendarRangeError,
    add_trading_days,
    add_trading_days_many,
    exchange_for,
    is_estimated,
    is_trading_day,
    is_trading_day_many,
    recorded_through,
    sessions,
    trading_days,
    trading_days_between,
)
from creditdesk.daycount import (
    actual_days,
    convention_for_currency,
    daily_interest_minor,
    days_to_accrue,
    interest_minor,
    year_basis_days,
    year_fraction,
)
from creditdesk.errors import InputError

FRI, MON = dt.date(2026, 11, 20), dt.date(2026, 11, 23)


def test_act360_weekend_golden() -> None:
    # Source: CNY broker margin contract convention (融资融券合同: 融资利息 = 融资金额 × 年利率
    # / 360 × 实际占用天数, charged every calendar day); DESIGN.md "The margin maths".
    # ¥1,000,000 = 100,000,000 fen at 8.35 % = 835 bps, drawn Friday, repaid Monday.
    assert actual_days(FRI, MON) == 3
    daily = daily_interest_minor(100_000_000, 835, "ACT/360")
    assert daily == 23_194  # 100,000,000 × 0.0835 / 360 = 23,194.44 -> 23,194 fen (half up)
    assert interest_minor(100_000_000, 835, FRI, MON, "ACT/360") == 3 * 23_194 == 69_582
    # the per-day postings of the ledger (days_to_accrue × daily) give the same figure
    nights = days_to_accrue(None, MON - dt.timedelta(days=1), opened=FRI)
    assert nights == [FRI, dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
    assert sum(daily_interest_minor(100_000_000, 835) for _ in nights) == 69_582


def test_half_up_rounding_and_vectorised_form_agree() -> None:
    # Contract convention: amounts in integer fen, rounded half up (四舍五入).
    # 360,000 fen at 5 bps/yr ACT/360 = 0.5 fen -> 1 (half up); 359,999 fen -> 0.49999 -> 0
    assert daily_interest_minor(360_000, 5) == 1
    assert daily_interest_minor(359_999, 5) == 0
    principal = np.array([100_000_000, 360_000, 359_999, 0], dtype=np.int64)
    np.testing.assert_array_equal(daily_interest_minor(principal, 5), [139, 1, 0, 0])
    assert daily_interest_minor(principal, np.array([835, 5, 5, 835])).tolist() == [23_194, 1, 0, 0]
    # ACT/365 is the other basis a contract may name
    assert daily_interest_minor(100_000_000, 835, "ACT/365") == 22_877  # 22,876.7 -> 22,877


def test_conventions_and_bad_input() -> None:
    assert convention_for_currency(156) == "ACT/360"  # CNY broker contracts
    assert year_basis_days("ACT/360") == 360
    assert year_fraction(3, "ACT/360") == pytest.approx(3 / 360)
    np.testing.assert_allclose(year_fraction(np.array([1, 3])), [1 / 360, 3 / 360])
    with pytest.raises(InputError, match="day count"):
        year_basis_days("30/360")
    with pytest.raises(InputError, match="currency"):
        convention_for_currency(978)
    with pytest.raises(InputError):
        daily_interest_minor(-1, 835)
    with pytest.raises(InputError, match="before"):
        interest_minor(1, 1, MON, FRI)


def test_accrual_catches_up_and_is_idempotent() -> None:
    # DESIGN.md: interest charged on every calendar day, catching up from the last accrued day.
    opened = dt.date(2026, 11, 18)
    assert days_to_accrue(None, dt.date(2026, 11, 19), opened) == [opened, dt.date(2026, 11, 19)]
    # last accrued Thursday; run on Monday through Sunday: Fri, Sat, Sun
    assert len(days_to_accrue(dt.date(2026, 11, 19), dt.date(2026, 11, 22), opened)) == 3
    assert days_to_accrue(dt.date(2026, 11, 22), dt.date(2026, 11, 22), opened) == []  # nothing twice
    with pytest.raises(InputError, match="before the facility opened"):
        days_to_accrue(None, dt.date(2026, 11, 17), opened)


def test_friday_call_deadline_second_following_xshg_session() -> None:
    # Source: margin contract / DESIGN.md: top up within 2 trading days (T+2 交易日) of the call;
    # sessions from exchange-calendars XSHG, which matches 上交所《关于2026年部分节假日休市安排的通知》
    # (2025-12-22).
    assert exchange_for("cn") == "XSHG" and exchange_for("us") == "XNYS"
    # ordinary week: Friday 2026-09-18 -> Monday 21, Tuesday 22
    assert add_trading_days("cn", dt.date(2026, 9, 18), 2) == dt.date(2026, 9, 22)
    # Spring Festival: closed 2026-02-15..23, reopens Tuesday 24 -> deadline Wednesday 25
    assert add_trading_days("cn", dt.date(2026, 2, 13), 2) == dt.date(2026, 2, 25)
    # Golden Week: closed 10-01..07 (and Mid-Autumn Friday 09-25): Wednesday 09-30 call -> 10-09
    assert add_trading_days("cn", dt.date(2026, 9, 30), 2) == dt.date(2026, 10, 9)
    # a call dated on a holiday counts from the next session too
    assert add_trading_days("cn", dt.date(2026, 10, 3), 2) == dt.date(2026, 10, 9)
    # vectorised: one deadline per account
    days = np.array(["2026-02-13", "2026-09-18"], dtype="datetime64[D]")
    assert add_trading_days_many("cn", days, 2).tolist() == [dt.date(2026, 2, 25), dt.date(2026, 9, 22)]


def test_xnys_and_session_counts() -> None:
    # XNYS: Thanksgiving Thursday 2026-11-26 closed, Friday 27 a (half-day) session.
    assert add_trading_days("us", dt.date(2026, 11, 25), 2) == dt.date(2026, 11, 30)
    assert not is_trading_day("cn", dt.date(2026, 10, 1))
    assert is_trading_day_many(
        "cn", np.array(["2026-10-08", "2026-10-10"], dtype="datetime64[D]")
    ).tolist() == [
        True,
        False,
    ]
    assert trading_days_between("cn", dt.date(2026, 9, 30), dt.date(2026, 10, 9)) == 2
    # February 2026: 2-6, 9-13, then 24-27 after the Spring Festival closure = 5 + 5 + 4
    assert len(trading_days("cn", dt.date(2026, 2, 1), dt.date(2026, 2, 28))) == 14


def test_beyond_the_recorded_horizon_sessions_are_estimated_weekdays() -> None:
    # exchange-calendars 4.13.2 records XSHG holidays through 2026-12-31 (the SSE publishes a
    # year's closures each December). Past that the calendar assumes Monday-Friday sessions, a
    # documented limitation (README "Rules and conventions"), instead of failing every call
    # deadline issued from 2026-12-30 on.
    assert recorded_through("cn") == dt.date(2026, 12, 31)
    # golden at the horizon: the last recorded sessions, then estimated weekdays
    assert add_trading_days("cn", dt.date(2026, 12, 29), 2) == dt.date(2026, 12, 31)  # recorded
    assert add_trading_days("cn", dt.date(2026, 12, 30), 2) == dt.date(2027, 1, 4)  # Fri Jan 1 closed
    assert add_trading_days("cn", dt.date(2026, 12, 31), 2) == dt.date(2027, 1, 5)  # Jan 1, weekend
    assert add_trading_days("cn", dt.date(2027, 3, 5), 2) == dt.date(2027, 3, 9)  # Fri -> Tue
    assert not is_estimated("cn", dt.date(2026, 12, 31)) and is_estimated("cn", dt.date(2027, 1, 4))
    days = np.array(["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"], dtype="datetime64[D]")
    assert is_trading_day_many("cn", days).tolist() == [False, False, False, True]
    # Dec 28-31 recorded, Fri Jan 1 a fixed holiday, Jan 4-8 estimated
    assert trading_days_between("cn", dt.date(2026, 12, 25), dt.date(2027, 1, 8)) == 4 + 5
    assert len(trading_days("cn", dt.date(2030, 6, 1), dt.date(2030, 6, 30))) == 20  # June 2030 weekdays
    # the vectorised deadline the margin engine uses crosses the horizon too
    both = np.array(["2026-12-24", "2026-12-31"], dtype="datetime64[D]")
    assert add_trading_days_many("cn", both, 2).tolist() == [dt.date(2026, 12, 28), dt.date(2027, 1, 5)]
    # XNYS is recorded further (its rules are in the library); the same fallback applies past it
    assert recorded_through("us") == dt.date(2035, 12, 31)
    assert add_trading_days("us", dt.date(2036, 1, 4), 1) == dt.date(2036, 1, 7)  # Fri -> Mon


def test_past_the_horizon_the_fixed_prc_holidays_are_closed() -> None:
    # State Council, 全国年节及纪念日放假办法 (2024 revision, in force 2025-01-01): New Year's Day
    # (Jan 1), Labour Day (May 1-2) and National Day (Oct 1-3) are fixed-date holidays; the SSE has
    # also closed Oct 4-7 every year since 2009 (the golden week). Lunar holidays are not estimated.
    assert not is_trading_day("cn", dt.date(2027, 1, 1))  # Fri
    assert [is_trading_day("cn", dt.date(2028, 5, d)) for d in (1, 2, 3)] == [False, False, True]
    october_2027 = np.arange(np.datetime64("2027-10-01"), np.datetime64("2027-10-09"))
    assert is_trading_day_many("cn", october_2027).tolist() == [False] * 7 + [True]  # Fri 8th
    # a Thursday 2027-09-30 call: the National Day week is skipped, due Mon 2027-10-11
    assert add_trading_days("cn", dt.date(2027, 9, 30), 2) == dt.date(2027, 10, 11)


def test_the_estimated_prc_holidays_were_closed_in_every_recorded_year() -> None:
    # The estimate is checked against the exchange's own history (exchange-calendars' XSHG):
    # Jan 1 closed in every year of the exchange, Oct 1-7 since 2009, May 1-2 since 2019.
    recorded = set(sessions("XSHG").tolist())
    closed = [dt.date(y, 1, 1) for y in range(1991, 2027)]
    closed += [dt.date(y, 10, d) for y in range(2009, 2027) for d in range(1, 8)]
    closed += [dt.date(y, 5, d) for y in range(2019, 2027) for d in (1, 2)]
    assert [day for day in closed if day in recorded] == []
    assert dt.date(2026, 10, 9) in recorded  # the check can fail: a session is found when there


def test_calendar_range_refused_outside_any_session() -> None:
    with pytest.raises(CalendarRangeError, match="XSHG"):
        add_trading_days("cn", dt.date(1985, 3, 1), 2)  # before the exchange opened (1990-12-19)
    with pytest.raises(CalendarRangeError, match="XSHG"):
        add_trading_days("cn", dt.date(2199, 12, 30), 5)  # past the business-time bound
    with pytest.raises(InputError, match="regime"):
        add_trading_days("hk", dt.date(2026, 3, 2), 2)
