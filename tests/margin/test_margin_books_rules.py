"""The exchange and contract rules on the real books (ledger + margin tables), each with its source."""

from __future__ import annotations

from sqlalchemy import Engine

from creditdesk.business_time import parse_at
from margin.service import MarginDesk

CID, STOCK = 7, 600519


class Clock:
    """Business time of the scenario (the marking reads it; tests move it)."""

    def __init__(self, at: str) -> None:
        self.ns = parse_at(at, 0)

    def set(self, at: str) -> None:
        self.ns = parse_at(at, 0)

    def __call__(self) -> int:
        self.ns += 1
        return self.ns


def called_desk(engine: Engine, at: str) -> tuple[MarginDesk, Clock]:
    clock = Clock(at)
    desk = MarginDesk(engine, clock)
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**7)
    desk.open_facility(CID, "dec-7", line_minor=1_000_000, annual_rate_bps=835)
    assert desk.deposit(CID, "dep", 500_000).ok
    assert desk.buy(CID, "b1", STOCK, 70, 10_000).ok  # MV 700,000, loan 200,000
    assert desk.mark_to_market({STOCK: 3_500}).calls_issued == [CID]  # 122.5 % < 130 %
    return desk, clock


def test_friday_call_is_due_on_the_second_following_trading_day(engine: Engine) -> None:
    # Source: margin contract (DESIGN.md): top up within 2 trading days; XSHG sessions.
    desk, clock = called_desk(engine, "2026-09-18T10:00:00+08:00")  # a Friday
    clock.set("2026-09-21T10:00:00+08:00")  # Monday: one session later, 3 calendar days
    assert desk.mark_to_market({STOCK: 3_500}).to_liquidate == []
    clock.set("2026-09-22T10:00:00+08:00")  # Tuesday: the second session
    assert desk.mark_to_market({STOCK: 3_500}).to_liquidate == [CID]


def test_friday_call_before_spring_festival_is_due_after_the_holiday(engine: Engine) -> None:
    # Source: 上交所 2026 休市安排: closed 2026-02-15..23; sessions from exchange-calendars XSHG.
    desk, clock = called_desk(engine, "2026-02-13T10:00:00+08:00")
    for day in ("2026-02-23", "2026-02-24"):  # 10 and 11 calendar days later: 0 and 1 session
        clock.set(f"{day}T10:00:00+08:00")
        assert desk.mark_to_market({STOCK: 3_500}).to_liquidate == [], day
    clock.set("2026-02-25T10:00:00+08:00")
    assert desk.mark_to_market({STOCK: 3_500}).to_liquidate == [CID]
