"""The ledger's state machine, driven by margin operations: buy, sell, mark, accrue, liquidate.

Random sequences on a real SQLite file (the ledger machine of ``tests/ledger`` drives raw
transfers; this one drives the margin service above it). After every step: Σ debits = Σ
credits per ledger, stored balances equal the replay of the transfers, no limit passed,
one accrual per loan and day (``reconcile_books``); the loan never passes the line; each
position equals the sum of its trade legs (``trades_before``); and the book the marking
process keeps in memory, advanced by transfers, equals a fresh load.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine

from ledger.storage import make_engine
from margin.book import load_book
from margin.eod import reconcile_books
from margin.marking import BookMarker
from margin.repository import run_margin
from margin.service import MarginDesk
from margin.storage import migrate
from margin.trades import trades_before

CUSTOMERS = (1, 2, 3)
INSTRUMENTS = {11: 10_000, 12: 2_500}
LINE = 600_000
LATER_NS = 2**62


class MarginMachine(RuleBasedStateMachine):
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        path = self.workdir / f"m-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.template, path)
        self.engine: Engine = make_engine(f"sqlite:///{path}")
        self.now_ns = 1_768_000_000 * 10**9
        self.desk = MarginDesk(self.engine, clock=lambda: self.now_ns)
        self.marker = BookMarker(self.engine)
        self.prices = dict(INSTRUMENTS)
        self.day = dt.date(2026, 1, 5)
        self.ops = 0
        for iid, price in INSTRUMENTS.items():
            self.desk.upsert_instrument(iid, f"S{iid}", "index_constituent", price_minor=price)
        for cid in CUSTOMERS:
            regime = "us" if cid == 3 else "cn"
            self.desk.open_facility(
                cid, f"dec-{cid}", LINE, 800, 30_000, regime, "USD" if cid == 3 else "CNY"
            )
            assert self.desk.deposit(cid, "seed", 100_000).ok

    def op_id(self) -> str:
        self.ops += 1
        return f"op-{self.ops}"

    @rule(cid=st.sampled_from(CUSTOMERS), iid=st.sampled_from(sorted(INSTRUMENTS)), qty=st.integers(1, 25))
    def buy(self, cid: int, iid: int, qty: int) -> None:
        result = self.desk.buy(cid, self.op_id(), iid, qty, self.prices[iid], fee_minor=qty)
        assert result.ok or result.reason, result

    @rule(cid=st.sampled_from(CUSTOMERS), iid=st.sampled_from(sorted(INSTRUMENTS)), share=st.floats(0.1, 1.0))
    def sell(self, cid: int, iid: int, share: float) -> None:
        held = self.desk.margin(cid).positions.get(iid, 0)
        if held:
            qty = max(1, int(held * share))
            assert self.desk.sell(cid, self.op_id(), iid, qty, self.prices[iid]).ok

    @rule(iid=st.sampled_from(sorted(INSTRUMENTS)), move=st.floats(0.6, 1.3))
    def mark(self, iid: int, move: float) -> None:
        self.prices[iid] = max(1, int(self.prices[iid] * move))
        self.now_ns += 3_600 * 10**9
        self.marker.tick(dict(self.prices), self.now_ns)

    @rule()
    def accrue(self) -> None:
        self.day += dt.timedelta(days=1)
        self.now_ns += 86_400 * 10**9
        self.desk.accrue_interest(self.day)

    @rule(cid=st.sampled_from(CUSTOMERS))
    def liquidate(self, cid: int) -> None:
        for iid, held in self.desk.margin(cid).positions.items():
            assert self.desk.sell(cid, self.op_id(), iid, held, self.prices[iid], liquidation=True).ok
        self.desk.close_call(cid)

    @invariant()
    def books_reconcile(self) -> None:
        report = reconcile_books(self.engine)  # with no day: at most one accrual per loan and day
        assert report.ok, report.breaks[:3]
        assert all(r.debits_posted == r.credits_posted for r in report.trial_balance)

    @invariant()
    def loans_within_lines_and_positions_from_trades(self) -> None:
        for cid in CUSTOMERS:
            view = self.desk.margin(cid)  # its own transaction: never nested in another (SQLite lock)
            assert 0 <= view.loan_minor <= LINE
            with self.engine.connect() as conn:
                trades = trades_before(conn, cid, LATER_NS, max_trades=10_000)
            legs: dict[int, int] = {}
            for iid, side, qty in zip(trades.instrument_id, trades.side, trades.quantity, strict=True):
                legs[int(iid)] = legs.get(int(iid), 0) + (int(qty) if side == "buy" else -int(qty))
            assert {i: q for i, q in legs.items() if q} == view.positions

    @invariant()
    def book_in_memory_equals_a_fresh_load(self) -> None:
        if self.marker.live.state is None:
            return
        self.marker.tick(dict(self.prices), self.now_ns)
        kept, fresh = self.marker.live.state, run_margin(self.engine, load_book)
        assert kept.customer_ids.tolist() == fresh.customer_ids.tolist()
        assert kept.cash.tolist() == fresh.cash.tolist() and kept.debt.tolist() == fresh.debt.tolist()
        held = {
            (int(a), int(i)): q
            for a, i, q in zip(kept.pos_account, kept.pos_instrument_id, kept.pos_quantity, strict=True)
            if q
        }
        assert held == {
            (int(a), int(i)): q
            for a, i, q in zip(fresh.pos_account, fresh.pos_instrument_id, fresh.pos_quantity, strict=True)
        }

    def teardown(self) -> None:

        self.engine.dispose()


@pytest.mark.slow
def test_random_margin_sequences_keep_every_invariant(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrate(engine)
    engine.dispose()
    MarginMachine.template = template
    MarginMachine.workdir = tmp_path
    run_state_machine_as_test(
        MarginMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
