"""ADV in money on one split basis (issue 13), golden on AAPL's real splits.

Source: AAPL's 7-for-1 split effective 2014-06-09 and 4-for-1 effective 2020-08-31 (Apple
press releases of 2014-04-23 and 2020-07-30). The dataset's ``volume`` is raw shares on the
day's own basis and ``close`` the raw close, while ``adjusted_close`` is split- (and
dividend-) adjusted: money traded = raw close × raw volume is the same on both sides of a
split; raw volume against adjusted prices is off by the split factor (7 × 4 = 28 before
2014). "Illiquid" ranks by money traded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.builders import InstrumentIndex
from features.prices import load_sp500_panel
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def aapl() -> pd.DataFrame:
    path = require_dataset("sp500_prices/daily_prices.parquet")
    panel = load_sp500_panel(path, start="2014-05-01", end="2020-10-30")
    j = int(np.flatnonzero(panel.tickers == "AAPL")[0])
    return pd.DataFrame(
        {
            "close": panel.close[:, j],
            "volume": panel.volume[:, j],
            "money": panel.traded_money[:, j],
            "adjusted_volume": panel.adjusted_volume[:, j],
        },
        index=pd.to_datetime(panel.dates),
    )


def test_money_traded_is_raw_close_times_raw_volume(aapl: pd.DataFrame) -> None:
    # 2014-06-06 (the last day before the 7:1 split): 645.57 × 12,497,800 shares
    assert aapl.loc["2014-06-06", "money"] == pytest.approx(645.57 * 12_497_800)
    # 2014-06-09 (the first day after it): 93.70 × 75,414,997 shares
    assert aapl.loc["2014-06-09", "money"] == pytest.approx(93.70 * 75_414_997)


@pytest.mark.parametrize(("split_day", "factor"), [("2014-06-09", 7.0), ("2020-08-31", 4.0)])
def test_money_adv_is_continuous_across_a_split(aapl: pd.DataFrame, split_day: str, factor: float) -> None:
    before = aapl.loc[: pd.Timestamp(split_day) - pd.Timedelta(days=1)].tail(20)
    after = aapl.loc[split_day:].head(20)
    money_ratio = after["money"].mean() / before["money"].mean()
    shares_ratio = after["volume"].mean() / before["volume"].mean()
    adjusted_ratio = after["adjusted_volume"].mean() / before["adjusted_volume"].mean()
    assert 0.5 < money_ratio < 2.0  # ADV in money: no jump
    assert 0.5 < adjusted_ratio < 2.0  # shares on the adjusted basis: no jump either
    assert shares_ratio > factor / 2  # raw share volume jumps by about the split factor


def test_shares_on_the_adjusted_basis_match_adjusted_prices(aapl: pd.DataFrame) -> None:
    # In 2014 the adjusted close is ~1/28 of the raw one (7 × 4 splits, and dividends), so
    # adjusted shares are ~28 × the raw count: money = adjusted shares × adjusted close.
    day = aapl.loc["2014-06-06"]
    assert day["adjusted_volume"] * day["close"] == pytest.approx(day["money"])
    assert 25 < day["adjusted_volume"] / day["volume"] < 33


def test_illiquid_ranks_by_money_traded_not_share_count() -> None:
    # A $1,000 share trading 10,000 shares a day ($10M) is more liquid than a $1 share
    # trading 1,000,000 shares ($1M): by share count the order is the other way round.
    frame = pd.DataFrame(
        {
            "ticker": ["DEAR", "CHEAP"] + [f"N{i}" for i in range(8)],
            "volatile": [False] * 10,
            "adv_shares": [1e4, 1e6] + [5e5] * 8,
            "adv_money": [1e7, 1e6] + [5e6] * 8,
        }
    )
    index = InstrumentIndex.from_frame(frame)
    illiquid = dict(zip(index.tickers, index.illiquid, strict=True))
    assert illiquid["CHEAP"] and not illiquid["DEAR"]
