"""Marking the book through the engine agrees with each facility evaluated on its own."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from margin.service import MarginDesk
from margin.storage import margin_calls

A, B = 1, 2  # instruments


class Clock:
    ns = 1_768_000_000 * 10**9

    def __call__(self) -> int:
        self.ns += 1
        return self.ns


def book(engine: Engine) -> MarginDesk:
    desk = MarginDesk(engine, Clock())
    desk.upsert_instrument(A, "AAA", "index_constituent", price_minor=10_000)
    desk.upsert_instrument(B, "BBB", "share", price_minor=5_000)
    # (customer, regime, cash, shares of A, shares of B)
    for cid, reg, cash, qa, qb in [
        (1, "cn", 500_000, 60, 0),
        (2, "cn", 300_000, 30, 40),
        (3, "us", 400_000, 50, 20),
        (4, "cn", 1_000_000, 0, 0),  # no loan: never called
        (5, "us", 200_000, 0, 60),
    ]:
        desk.open_facility(cid, f"dec-{cid}", 2_000_000, 800, 30_000, reg, "CNY" if reg == "cn" else "USD")
        desk.deposit(cid, "dep", cash)
        for iid, q, price in ((A, qa, 10_000), (B, qb, 5_000)):
            if q:
                assert desk.buy(cid, f"b{iid}", iid, q, price).ok
    return desk


def calls(engine: Engine, status: str) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(margin_calls).where(margin_calls.c.status == status)
        return int(conn.execute(q).scalar_one())


def test_book_marking_matches_each_facility_and_writes_only_changes(engine: Engine) -> None:
    desk = book(engine)
    for prices in ({A: 6_000, B: 3_500}, {A: 4_500, B: 2_000}, {A: 9_000, B: 5_500}):
        result = desk.mark_to_market(prices)
        assert result.evaluated == 5
        singly = {cid: desk.margin(cid).status for cid in range(1, 6)}
        assert result.statuses == singly
    crash = {A: 4_000, B: 2_000}
    first = desk.mark_to_market(crash)
    open_after_first = calls(engine, "open")
    assert first.calls_issued and open_after_first == len(first.calls_issued)
    second = desk.mark_to_market(crash)  # same prices: no new call, nothing met
    assert second.calls_issued == [] and second.calls_met == []
    assert calls(engine, "open") == open_after_first
    recovered = desk.mark_to_market({A: 20_000, B: 10_000})
    assert sorted(recovered.calls_met) == sorted(first.calls_issued) and calls(engine, "open") == 0
