"""Unit of work: one database transaction around a service call, retried on write conflicts.

On PostgreSQL two writers can still collide (a deadlock when a batch had to lock a
pending transfer's accounts after the others, two clients inserting the same new transfer
id). Both surface as errors at statement or commit time, the transaction rolls back as a
whole, and the work function runs again from the start on fresh state, so a retry can
never apply a batch twice. SQLite serialises writers with ``BEGIN IMMEDIATE`` instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ledger.repository import SqlLedgerRepository

T = TypeVar("T")
U = TypeVar("U", bound="SqlUnitOfWork")

MAX_ATTEMPTS = 12
# PostgreSQL SQLSTATEs that mean "try the whole transaction again": serialization failure,
# deadlock detected, unique violation (a concurrent insert of the same id).
RETRY_SQLSTATES = frozenset({"40001", "40P01", "23505"})


class SqlUnitOfWork:
    """``with SqlUnitOfWork(engine) as uow: …; uow.commit()`` — anything uncommitted rolls back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def __enter__(self) -> Self:
        self.conn = self.engine.connect()
        self.conn.begin()
        self.ledger = SqlLedgerRepository(self.conn)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.conn is not None
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
        finally:
            self.conn.close()
            self.conn = None

    @property
    def connection(self) -> Connection:
        assert self.conn is not None, "unit of work used outside its with-block"
        return self.conn

    def commit(self) -> None:
        self.connection.commit()


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "pgcode", None)
    if code is not None:
        return code in RETRY_SQLSTATES
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig)


def run_in_transaction(engine: Engine, work: Callable[[SqlUnitOfWork], T]) -> T:
    """Run ``work(uow)`` and commit; on a write conflict roll back and run it again (bounded)."""
    return run_unit_of_work(SqlUnitOfWork, engine, work)


def run_unit_of_work(factory: Callable[[Engine], U], engine: Engine, work: Callable[[U], T]) -> T:
    """``run_in_transaction`` for a unit of work of a room above (one that adds repositories)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with factory(engine) as uow:
                result = work(uow)
                uow.commit()
                return result
        except (OperationalError, IntegrityError) as exc:
            if attempt == MAX_ATTEMPTS or not _retryable(exc):
                raise
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
    raise AssertionError("unreachable")
