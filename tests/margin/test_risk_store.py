"""Risk controls in the books: events refused when retroactive, reviews opened and cleared, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert

from creditdesk.errors import InputError
from margin.risk_events import RiskEvent
from margin.risk_store import (
    append_events,
    clear_account,
    flag_account,
    leverage_multiplier,
    read_events,
    read_table,
    record_refusal,
    review_queue,
)
from margin.storage import instruments

DAY_NS = 86_400 * 10**9


def event(version: int, effective_day: int, value: str = "crisis", previous: str = "stressed") -> RiskEvent:
    return RiskEvent(
        "market",
        version,
        effective_day * DAY_NS,
        (effective_day - 1) * DAY_NS,
        "regime_level",
        value,
        previous,
        "index_ewma_vol_annual",
        0.45,
        0.40,
        "index EWMA volatility rose to 45 %",
    )


def mark_prices_at(engine: Engine, t_ns: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(instruments).values(
                instrument_id=1,
                symbol="AAA",
                kind="share",
                conversion_rate_bps=6500,
                adv_shares=10**6,
                volatility_bps=200,
                price_minor=1000,
                price_as_of_ns=t_ns,
            )
        )


def test_events_are_written_unless_retroactive_or_out_of_version(engine: Engine) -> None:
    mark_prices_at(engine, 10 * DAY_NS)
    with pytest.raises(InputError, match="no retroactive margin"):
        append_events(engine, [event(1, 10)], "p1")
    assert read_events(engine).empty  # nothing half-written
    assert append_events(engine, [event(1, 11), event(2, 12, "stressed", "crisis")], "p1") == 2
    with pytest.raises(InputError, match="version"):
        append_events(engine, [event(2, 13)], "p1")  # scope market is at v2 already
    stored = read_events(engine)
    assert stored.version.tolist() == [1, 2] and set(stored.policy_version) == {"p1"}


def test_review_cuts_leverage_until_an_analyst_clears_it(engine: Engine) -> None:
    assert flag_account(engine, 7, 5 * DAY_NS, 0.81, "turnover 9× its usual level", 0.5)
    assert not flag_account(engine, 7, 6 * DAY_NS, 0.9, "again", 0.5)  # one open review per account
    with engine.connect() as conn:
        assert leverage_multiplier(conn, 7) == 0.5 and leverage_multiplier(conn, 8) == 1.0
    with pytest.raises(InputError, match="analyst"):
        clear_account(engine, 7, 7 * DAY_NS, " ")
    clear_account(engine, 7, 7 * DAY_NS, "ana", "known hedger")
    with engine.connect() as conn:
        assert leverage_multiplier(conn, 7) == 1.0
        record_refusal(conn, 7, 1, 8 * DAY_NS, "WASH_ROUND_TRIP", "opposite fill 30 s ago")
        conn.commit()
    with pytest.raises(InputError, match="no open review"):
        clear_account(engine, 7, 8 * DAY_NS, "ana")
    rows = read_table(engine, review_queue)
    assert rows.status.tolist() == ["cleared"] and rows.cleared_by.tolist() == ["ana"]
