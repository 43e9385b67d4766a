"""Marking the book through the engine agrees with each facility evaluated on its own."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from ledger.storage import make_engine
from margin.service import MarginDesk
from margin.storage import margin_calls, migrate
from tests.margin.margin_support import Clock

A, B = 1, 2  # instruments


def book(engine: Engine) -> MarginDesk:
    desk = MarginDesk(engine, Clock(step_ns=1))
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
    check_marking_writes_only_changes(engine)


def test_book_marking_on_postgresql_writes_calls_through_copy(pg_schema_url: str) -> None:
    # PostgreSQL writes new calls with COPY (margin.repository.add_calls): same results
    eng = make_engine(pg_schema_url)
    migrate(eng)
    try:
        check_marking_writes_only_changes(eng)
        with eng.connect() as conn:
            row = conn.execute(select(margin_calls)).first()
        assert (
            row is not None and row.status == "met" and row.required_minor > 0 and row.ratio_at_issue_bps > 0
        )
    finally:
        eng.dispose()


def check_marking_writes_only_changes(engine: Engine) -> None:
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


def _columns(state: object) -> dict[int, tuple[float, float, dict[int, float]]]:
    """customer → (cash, debt, {instrument: shares}) for comparing two books."""
    from margin.book import BookState

    assert isinstance(state, BookState)
    out: dict[int, tuple[float, float, dict[int, float]]] = {}
    for i, cid in enumerate(state.customer_ids.tolist()):
        rows = state.pos_account == i
        held = {
            int(state.instrument_ids[j]): float(q)
            for j, q in zip(state.pos_instrument[rows], state.pos_quantity[rows], strict=True)
            if q
        }
        out[cid] = (float(state.cash[i]), float(state.debt[i]), held)
    return out


def test_the_book_in_memory_advanced_by_transfers_equals_a_fresh_load(engine: Engine) -> None:
    check_live_book_advance(engine)


def test_the_book_in_memory_advances_on_postgresql(pg_schema_url: str) -> None:
    # the transfers since the last tick are read with driver SQL (psycopg2 paramstyle here)
    eng = make_engine(pg_schema_url)
    migrate(eng)
    try:
        check_live_book_advance(eng)
    finally:
        eng.dispose()


def check_live_book_advance(engine: Engine) -> None:
    from margin.book import load_book
    from margin.marking import BookMarker
    from margin.repository import run_margin

    desk = book(engine)
    marker = BookMarker(engine)
    marker.tick({A: 10_000}, desk.clock())
    assert marker.live.reloads == 1
    desk.buy(1, "more-b", B, 10, 5_000)  # a first position in a new name: a new row
    desk.sell(2, "s-a", A, 30, 10_000)  # a whole position sold, loan repaid
    desk.deposit(3, "dep-2", 7_777)
    desk.charge_fee(5, "fee-1", 123)
    desk.accrue_interest(dt.date(2026, 1, 20))
    marker.tick({A: 9_000}, desk.clock())
    assert marker.live.reloads == 1 and marker.live.transfers_applied > 0  # advanced, not reloaded
    fresh = run_margin(engine, load_book)
    assert _columns(marker.live.state) == _columns(fresh)
    desk.open_facility(9, "dec-9", 100_000, 500)  # a new facility: the next tick reloads
    desk.deposit(9, "d9", 50_000)
    marker.tick({A: 9_000}, desk.clock())
    assert marker.live.reloads == 2 and 9 in marker.live.state.customer_ids  # type: ignore[union-attr]
    assert _columns(marker.live.state) == _columns(run_margin(engine, load_book))


def test_call_ids_are_distinct_per_customer_and_tick_and_stable_on_retry() -> None:
    import numpy as np

    from margin.marking import call_ids_for

    customers = np.arange(1, 200_001)
    first = call_ids_for(customers, 1_780_000_000 * 10**9)
    assert len(np.unique(first)) == len(customers) and (first > 0).all()
    assert (call_ids_for(customers, 1_780_000_000 * 10**9) == first).all()  # a retried tick
    assert not np.isin(call_ids_for(customers, 1_780_000_001 * 10**9), first).any()  # the next tick
