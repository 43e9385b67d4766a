"""Business time is an input (issue 13): parsing ``--at`` and the exchange's business day."""

from __future__ import annotations

import datetime as dt

import pytest

from creditdesk.business_time import business_day, parse_at, refuse_before_opening
from creditdesk.errors import InputError

NOW = 1_790_000_000 * 10**9


def test_default_is_the_edges_clock_and_dates_are_exchange_midnight() -> None:
    assert parse_at(None, NOW) == NOW
    # 2026-02-13 midnight in Shanghai = 2026-02-12T16:00Z
    at = parse_at("2026-02-13", NOW, "cn")
    assert at == int(dt.datetime(2026, 2, 12, 16, tzinfo=dt.UTC).timestamp()) * 10**9
    assert business_day(at, "cn") == dt.date(2026, 2, 13)
    assert business_day(at, "us") == dt.date(2026, 2, 12)  # 11:00 in New York the day before
    assert parse_at("2026-02-13T15:00:00+08:00", NOW) == at + 15 * 3600 * 10**9


def test_bad_at_is_refused_naming_the_field() -> None:
    for text in ("13/02/2026", "2026-02-13T15:00:00", "1899-12-31", "soon"):
        with pytest.raises(InputError) as e:
            parse_at(text, NOW)
        assert e.value.field == "at"
    with pytest.raises(InputError, match="before the facility opened"):
        refuse_before_opening(parse_at("2026-01-01", NOW), parse_at("2026-01-02", NOW))
