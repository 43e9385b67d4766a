"""The exchange and contract rules on the real books (ledger + margin tables), each with its source."""

from __future__ import annotations

import datetime as dt

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


A, B, BOND, ST = 601318, 600036, 19001, 600777


def rules_desk(engine: Engine, addon_bps: int = 0) -> MarginDesk:
    desk = MarginDesk(engine, Clock("2026-09-14T10:00:00+08:00"))
    desk.upsert_instrument(A, "601318.SH", "share", 10_000, index_constituent=True, static_pe=9.5)
    desk.upsert_instrument(B, "600036.SH", "share", 10_000, index_constituent=True, static_pe=6.1)
    desk.upsert_instrument(BOND, "019001.SH", "bond", 10_000)  # an "other bond": 80 %, not a target
    desk.upsert_instrument(ST, "600777.SH", "share", 10_000, board="st", eligible_for_financing=True)
    desk.open_facility(CID, "dec-7", 10_000_000, 835, 30_000, haircut_addon_bps=addon_bps)
    assert desk.deposit(CID, "dep", 1_000_000).ok
    return desk


def test_financed_buy_of_a_non_eligible_instrument_is_refused_and_nothing_written(engine: Engine) -> None:
    # Source: 实施细则, 标的证券 (融资买入标的); 折算率 (四): ST shares are never targets.
    desk = rules_desk(engine)
    for iid, op in ((BOND, "b-bond"), (ST, "b-st")):
        refused = desk.buy(CID, op, iid, 200, 10_000)  # 2,000,000 > 1,000,000 cash: a loan draw
        assert not refused.ok and refused.reason == "not_eligible_for_financing"
        assert refused.transfers == []
    assert desk.margin(CID).loan_minor == 0 and desk.margin(CID).cash_minor == 1_000_000
    assert desk.buy(CID, "own-bond", BOND, 50, 10_000).ok  # paid with own cash: a collateral buy


def test_books_count_a_financed_loss_at_100pct(engine: Engine) -> None:
    # Source: 实施细则, 保证金可用余额 (losses on financed positions at 100 %); financing margin
    # ratio 100 % (exchange notice of 2026-01-14). Own collateral: 100 A bought with cash
    # (1,000,000 × 70 % = 700,000); financed: 50 B with a 500,000 loan; B falls 20 %:
    # available = 700,000 − 100,000 − 500,000 = 100,000 -> a further 100,000 of loan, not 110,000.
    desk = rules_desk(engine)
    assert desk.buy(CID, "own-a", A, 100, 10_000).ok
    assert desk.buy(CID, "fin-b", B, 50, 10_000).ok
    desk.mark_to_market({B: 8_000})
    too_much = desk.buy(CID, "fin-a-11", A, 11, 10_000)
    assert not too_much.ok and too_much.reason == "initial_margin_not_met"
    assert desk.buy(CID, "fin-a-10", A, 10, 10_000).ok


def test_haircut_addon_stored_at_opening_lowers_the_accounts_margin(engine: Engine) -> None:
    # The grade tier's add-on (pricing policy) is stored on the facility at opening: 500 bps
    # makes A convert at 65 %: available = 650,000 − 100,000 − 500,000 = 50,000.
    desk = rules_desk(engine, addon_bps=500)
    assert desk.buy(CID, "own-a", A, 100, 10_000).ok
    assert desk.buy(CID, "fin-b", B, 50, 10_000).ok
    desk.mark_to_market({B: 8_000})
    assert desk.margin(CID).collateral_value_minor == round(0.65 * (1_000_000 + 400_000))
    assert desk.buy(CID, "fin-a-6", A, 6, 10_000).reason == "initial_margin_not_met"
    assert desk.buy(CID, "fin-a-5", A, 5, 10_000).ok


def test_accrue_through_charges_every_calendar_day_once(engine: Engine) -> None:
    # Source: CNY margin contract, ACT/360 on every calendar day (creditdesk.daycount):
    # ¥1,000,000 drawn on Friday at 8.35 %: Friday, Saturday, Sunday = 3 × 23,194 fen by Monday.
    clock = Clock("2026-11-20T10:00:00+08:00")  # Friday
    desk = MarginDesk(engine, clock)
    desk.upsert_instrument(A, "601318.SH", "share", 100_000, index_constituent=True)
    desk.open_facility(CID, "dec-7", 500_000_000, 835)
    assert desk.deposit(CID, "dep", 200_000_000).ok
    assert desk.buy(CID, "fin", A, 3_000, 100_000).ok  # 300,000,000 fen: 100,000,000 of loan
    assert desk.margin(CID).loan_minor == 100_000_000
    clock.set("2026-11-23T09:00:00+08:00")  # Monday morning
    assert desk.accrue_through(dt.date(2026, 11, 22)) == 3
    assert desk.margin(CID).accrued_interest_minor == 3 * 23_194 == 69_582
    assert desk.accrue_through(dt.date(2026, 11, 22)) == 0  # idempotent per loan and day
    assert desk.accrue_through(dt.date(2026, 11, 23)) == 1  # catches up from the last accrued day
    assert desk.accrue_through(dt.date(2026, 11, 19)) == 0  # before the facility opened: nothing
