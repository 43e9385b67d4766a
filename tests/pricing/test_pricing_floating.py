"""Floating rates: golden repricing paths, interest at the rate in force, a gap refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from creditdesk.daycount import daily_interest_minor
from creditdesk.errors import InputError
from pricing.floating import (
    FloatingTerms,
    base_rate_series,
    load_base_rates,
    rate_path_bps,
    reprice,
    repricing_day,
)

TERMS = FloatingTerms()  # spreads 150..700 bps, quarterly resets, 50 bps cap per reset


def test_packaged_series_matches_published_benchmark_rates() -> None:
    # Source: PBOC announcements of the 1-year benchmark lending rate (cut to 6.93 % on
    # 2008-10-09, 6.66 % on 2008-10-30, 5.58 % on 2008-11-27) and the 1-year LPR published by
    # the National Interbank Funding Center on the 20th (3.85 % from 2020-04-20).
    series = load_base_rates()
    got = series.rate_in_force(["2008-10-25", "2008-12-01", "2020-05-04"])
    assert got.tolist() == [693, 666, 385]  # the fixing of the 20th stays in force to the next


def test_golden_quarterly_repricing_with_cap() -> None:
    # Contract terms (FloatingTerms): rate = base + spread(grade) at opening; reset every 3 months
    # on the anniversary; at most 50 bps per reset. Grade 3 spread = 200 bps.
    series = load_base_rates()
    days = np.arange(np.datetime64("2008-07-01"), np.datetime64("2009-04-02"))
    path = rate_path_bps(series, TERMS, 3, dt.date(2008, 7, 1), days)
    at = {str(d): int(r) for d, r in zip(days, path, strict=True)}
    assert at["2008-07-01"] == 747 + 200  # base fixed 2008-06-20 = 7.47 %
    assert at["2008-09-30"] == 947  # the base fell on 2008-09-16; no reset yet: rate unchanged
    assert at["2008-10-01"] == 920  # reset: base 7.20 % (fixing 09-20) + 200 = 920, a -27 step
    assert at["2008-12-31"] == 920
    assert at["2009-01-01"] == 870  # base 5.58 % + 200 = 758 would be -162: capped at -50
    assert at["2009-04-01"] == 820  # base 5.31 % + 200 = 731: capped again at -50


def test_interest_accrues_at_the_rate_in_force_each_day() -> None:
    series = load_base_rates()
    days = np.arange(np.datetime64("2008-09-29"), np.datetime64("2008-10-03"))
    rates = rate_path_bps(series, TERMS, 3, dt.date(2008, 7, 1), days)
    interest = daily_interest_minor(np.full(len(days), 100_000_000), rates)
    # creditdesk.daycount (ACT/360, half up): 1,000,000.00 at 9.47 % / 360 = 26,305.6 -> 26,306;
    # from the reset on 1 October at 9.20 % / 360 = 25,555.6 -> 25,556
    assert interest.tolist() == [26_306, 26_306, 25_556, 25_556]


def test_reprice_moves_at_most_the_cap_either_way() -> None:
    assert reprice([900, 900, 900], [1_200, 880, 500], TERMS).tolist() == [950, 880, 850]


def test_repricing_days_clamp_to_month_end() -> None:
    got = repricing_day(["2021-11-30", "2021-11-30"], [1, 2], 3)
    assert [str(d) for d in got] == ["2022-02-28", "2022-05-30"]


def test_a_series_with_a_gap_is_refused() -> None:
    with pytest.raises(InputError, match="gap in the series after 2020-02"):
        base_rate_series(
            ["2020-01", "2020-02", "2020-04"], ["2020-01-20", "2020-02-20", "2020-04-20"], [415, 405, 385]
        )


def test_a_gap_in_a_csv_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("month,fixing_date,rate_bps\n2020-01,2020-01-20,415\n2020-03,2020-03-20,405\n")
    with pytest.raises(InputError, match="gap"):
        load_base_rates(path)


def test_days_outside_the_series_are_refused() -> None:
    series = base_rate_series(["2020-01", "2020-02"], ["2020-01-20", "2020-02-20"], [415, 405])
    with pytest.raises(InputError, match="no fixing on or before"):
        series.rate_in_force(["2020-01-10"])
    with pytest.raises(InputError, match="no fixing in force"):
        series.rate_in_force(["2020-04-30"])


def test_terms_refuse_a_narrower_spread_for_a_worse_grade() -> None:
    with pytest.raises(InputError):
        FloatingTerms(spread_bps_by_grade=(100, 90, 200, 250, 300, 350, 425, 500, 600, 700))
