"""The living book's own tables and its day transaction.

Why separate tables: the book simulation needs state the margin desk does not keep (which
run owns the database, which business days are committed, each line's behaviour traits,
repricing schedule and collection status, the decisions it made). They live in their own
``MetaData`` beside the service schema and are created on first use, so the service
migrations stay the margin room's.

Why one transaction per business day: a book run killed at any point must resume from the
last committed day with nothing half-posted. ``day_transaction`` opens one database
transaction and hands out an engine-shaped view of it (``DayEngine``) whose every unit of
work runs in a SAVEPOINT: the margin desk's operations, written for their own transactions,
then all commit or roll back with the day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from creditdesk.errors import InputError

book_metadata = MetaData()

book_runs = Table(
    "book_runs",
    book_metadata,
    Column("run_key", String(64), primary_key=True),
    Column("seed", BigInteger, nullable=False),
    Column("start_day", Integer, nullable=False),  # yyyymmdd
    Column("identity", Text, nullable=False),  # JSON: population, models, policy, base rates
)

book_days = Table(
    "book_days",
    book_metadata,
    Column("day", Integer, primary_key=True),  # yyyymmdd of a committed business day
    Column("summary", Text, nullable=False),  # JSON counts of what happened that day
)

book_lines = Table(
    "book_lines",
    book_metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("application_id", BigInteger, nullable=False),
    Column("decision_id", String(64), nullable=False),
    Column("application_day", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending / open / collection / written_off
    Column("grade", Integer, nullable=False),
    Column("pd_12m", Float, nullable=False),
    Column("lgd", Float, nullable=False),
    Column("ccf", Float, nullable=False),
    Column("limit_minor", BigInteger, nullable=False),
    Column("leverage_bps", Integer, nullable=False),
    Column("rate_bps", Integer, nullable=False),
    Column("resets_done", Integer, nullable=False),
    Column("next_reset_day", Integer, nullable=False),  # yyyymmdd of the next repricing
    Column("deposit_minor", BigInteger, nullable=False),
    Column("draw_share", Float, nullable=False),
    Column("trade_prob", Float, nullable=False),
    Column("meet_prob", Float, nullable=False),
    Column("basket", Text, nullable=False),  # JSON list of instrument ids
    Column("shortfall_since", Integer, nullable=False),  # yyyymmdd, 0 = none
    Column("last_call_day", Integer, nullable=False),
    Column("recovery_day", Integer, nullable=False),  # yyyymmdd a collection recovery is due
    Column("recovery_minor", BigInteger, nullable=False),
)

book_decisions = Table(
    "book_decisions",
    book_metadata,
    Column("application_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("application_day", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("record", Text, nullable=False),  # JSON: the decision's numbers and inputs
)


book_reviews = Table(
    "book_reviews",
    book_metadata,
    Column("month_end", Integer, primary_key=True),  # yyyymmdd of the review
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(8), nullable=False),  # keep / cut / freeze / raise
    Column("reason", String(80), nullable=False),
    Column("early_warning", Boolean, nullable=False),
    Column("old_limit_minor", BigInteger, nullable=False),
    Column("new_limit_minor", BigInteger, nullable=False),
    Column("pd_at_origination", Float, nullable=False),
    Column("pd_now", Float, nullable=False),  # behavioural re-score at month end
)


def yyyymmdd(day: object) -> int:
    """A day as the integer yyyymmdd the book's rows and the ledger's accrual ids use."""
    import pandas as pd

    d = pd.Timestamp(str(day)[:10])
    return d.year * 10_000 + d.month * 100 + d.day


def create_book_tables(engine: Engine) -> None:
    book_metadata.create_all(engine)


def claim_run(conn: Connection, run_key: str, seed: int, start_day: int, identity: dict[str, Any]) -> None:
    """Record this run as the database's owner, or refuse a database that holds another run."""
    rows = conn.execute(select(book_runs)).all()
    if not rows:
        conn.execute(
            insert(book_runs).values(
                run_key=run_key, seed=seed, start_day=start_day, identity=json.dumps(identity, sort_keys=True)
            )
        )
        return
    owner = rows[0]
    if owner.run_key != run_key:
        raise InputError(
            f"the database holds another book run (seed {owner.seed}, from {owner.start_day},"
            f" {owner.identity[:120]}); resume it with the same inputs or use another --db",
            field="db",
        )


def committed_days(conn: Connection) -> list[int]:
    return [int(r.day) for r in conn.execute(select(book_days.c.day).order_by(book_days.c.day))]


class _SavepointConnection:
    """A unit of work's connection that is really a SAVEPOINT in the day's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._savepoint: Any = None

    def begin(self) -> Any:
        self._savepoint = self._conn.begin_nested()
        return self._savepoint

    def in_transaction(self) -> bool:
        return self._savepoint is not None and bool(self._savepoint.is_active)

    def commit(self) -> None:
        assert self._savepoint is not None, "commit without begin"
        self._savepoint.commit()
        self._savepoint = None

    def rollback(self) -> None:
        if self.in_transaction():
            self._savepoint.rollback()
        self._savepoint = None

    def close(self) -> None:
        self.rollback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class DayEngine:
    """Engine-shaped view of one open transaction: ``connect()`` gives savepoint connections."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn

    def connect(self) -> _SavepointConnection:
        return _SavepointConnection(self.connection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection.engine, name)


@contextmanager
def day_transaction(engine: Engine) -> Iterator[tuple[Connection, Engine]]:
    """One business day: the connection for the book's own rows and an engine for the desk.
    Commits when the block ends normally; anything raised rolls the whole day back."""
    with engine.connect() as conn, conn.begin():
        yield conn, cast(Engine, DayEngine(conn))


__all__ = [
    "DayEngine",
    "book_days",
    "book_decisions",
    "book_lines",
    "book_metadata",
    "book_reviews",
    "book_runs",
    "claim_run",
    "committed_days",
    "create_book_tables",
    "day_transaction",
    "yyyymmdd",
]
