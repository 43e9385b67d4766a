"""The committee report's Risk controls section, from frames as the books hold them."""

from __future__ import annotations

import pandas as pd

from monitoring.risk_controls import risk_controls_section

DAY = 86_400 * 10**9


def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    events = pd.DataFrame(
        {
            "scope": ["market", "market", "instrument:AAA", "market"],
            "version": [1, 2, 1, 3],
            "effective_ns": [1 * DAY, 12 * DAY, 12 * DAY, 20 * DAY],
            "kind": ["regime_level", "regime_level", "buy_freeze", "regime_level"],
            "value": ["stressed", "crisis", "frozen", "stressed"],
            "previous": ["calm", "stressed", "open", "crisis"],
            "statistic": [
                "index_cusum_sd",
                "index_ewma_vol_annual",
                "vol_percentile",
                "index_ewma_vol_annual",
            ],
            "statistic_value": [5.2, 0.45, 0.97, 0.30],
            "threshold": [5.0, 0.40, 0.75, 0.32],
            "reason": ["cusum", "vol rose", "rank", "cooled"],
        }
    )
    reviews = pd.DataFrame(
        {
            "customer_id": [7, 8],
            "flagged_ns": [11 * DAY, 13 * DAY],
            "score": [0.8, 0.75],
            "reasons": ["turnover 9×", "withdrew 80 % after a deposit"],
            "status": ["cleared", "open"],
            "cleared_ns": [14 * DAY, 0],
            "cleared_by": ["ana", ""],
        }
    )
    refusals = pd.DataFrame(
        {
            "customer_id": [7, 7, 9],
            "instrument_id": [1, 1, 2],
            "at_ns": [11 * DAY, 12 * DAY, 13 * DAY],
            "reason_code": ["WASH_SELF_CROSS", "WASH_ROUND_TRIP", "CONCENTRATION_ACCOUNT"],
            "detail": ["", "", ""],
        }
    )
    return events, reviews, refusals


def test_section_shows_timeline_reviews_and_refusals_for_the_period() -> None:
    events, reviews, refusals = frames()
    section = risk_controls_section(events, reviews, refusals, start_ns=10 * DAY, end_ns=25 * DAY)
    assert section is not None
    timeline = section["tables"]["regime timeline (market level, effective from)"]
    assert timeline["change"].tolist() == ["calm → stressed", "stressed → crisis", "crisis → stressed"]
    f = section["figures"]
    assert f["crisis level in period"] == "yes" and f["names frozen for new financed buys (events)"] == 1
    assert f["accounts flagged in period"] == 2 and f["accounts cleared in period"] == 1
    assert f["wash-trade refusals"] == 2 and f["reviews open > 5 days"] == 1
    assert "amber" in section["lights"]
    refused = section["tables"]["pre-trade refusals by reason"].set_index("reason_code")["orders refused"]
    assert refused.to_dict() == {"CONCENTRATION_ACCOUNT": 1, "WASH_ROUND_TRIP": 1, "WASH_SELF_CROSS": 1}


def test_no_data_means_no_section() -> None:
    empty = pd.DataFrame()
    assert risk_controls_section(empty, empty, empty, 0, 1) is None
