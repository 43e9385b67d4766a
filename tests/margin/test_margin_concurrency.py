"""Pre-trade checks under concurrency: 8 writers bursting buys on one account, SQLite and PostgreSQL.

The checks run inside the transaction that posts the buy, after the customer's accounts are
locked, so concurrent orders are judged one after the other: together they can never pass
a limit one of them alone would not. Afterwards: the line and the leverage cap hold, every
refusal carries a reason code, and the books balance (money conserved).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from ledger.storage import make_engine
from margin.chart import Code, customer_account
from margin.eod import reconcile_books
from margin.service import MarginDesk
from margin.storage import migrate
from tests.margin.margin_support import Clock

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
CID, STOCK, LINE, WRITERS, BURST = 7, 600519, 400_000, 8, 6
REASONS = {"initial_margin_not_met", "max_leverage_exceeded", "exceeds_credits", "linked_event_failed"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield engine
        return
    try:
        admin = make_engine(PG_URL, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            schema = f"t_margin_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no PostgreSQL at {PG_URL}: {type(exc).__name__}")
    eng = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}", pool_size=WRITERS + 2)
    migrate(eng)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.slow
def test_eight_writers_never_breach_a_limit_together(store: Engine) -> None:
    desk = MarginDesk(store, Clock())
    desk.upsert_instrument(STOCK, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**7)
    desk.open_facility(CID, "dec-1", line_minor=LINE, annual_rate_bps=730, max_leverage_bps=25_000)
    assert desk.deposit(CID, "dep", 300_000).ok

    def burst(writer: int) -> list[tuple[bool, str]]:
        return [
            (r.ok, r.reason)
            for r in (desk.buy(CID, f"w{writer}-{k}", STOCK, 10, 10_000, fee_minor=5) for k in range(BURST))
        ]

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = [o for batch in pool.map(burst, range(WRITERS)) for o in batch]
    bought = sum(ok for ok, _ in outcomes)
    refusals = {reason for ok, reason in outcomes if not ok}
    assert 0 < bought < WRITERS * BURST and refusals and refusals <= REASONS, refusals
    view = desk.margin(CID)
    assert view.positions == {STOCK: 10 * bought}
    # money conserved: what came in (deposit + loan) = what is left + what the buys paid
    assert view.cash_minor == 300_000 + view.loan_minor - bought * (100_000 + 5)
    assert 0 <= view.loan_minor <= LINE
    equity = view.cash_minor + view.market_value_minor - view.loan_minor
    assert view.market_value_minor <= 2.5 * equity  # the facility's leverage cap
    report = reconcile_books(store)
    assert report.ok, report.breaks[:3]
    with store.connect() as conn:
        line = conn.execute(
            text("SELECT credits_posted - debits_posted FROM ledger_accounts WHERE id = :i"),
            {"i": customer_account(CID, Code.CREDIT_LINE)},
        ).scalar_one()
    assert line == LINE - view.loan_minor
