"""Repository over the ledger tables: set-based loads and writes for one transaction.

Everything here runs on one open connection inside a transaction owned by the unit of
work. Reads of accounts that a batch will change take row locks on PostgreSQL
(``SELECT … FOR UPDATE`` in ascending id order, so two writers never wait on each other in
a cycle); on SQLite the whole database is already locked by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from ledger.domain import MAX_INT64, Account, Pending, PendingStatus, Transfer, TransferFlags
from ledger.storage import accounts, clock, pending, transfers

CHUNK = 2000  # ids per IN list: well inside SQLite's and PostgreSQL's bound-parameter limits


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _valid(ids: Iterable[int]) -> list[int]:
    return sorted({i for i in ids if 0 < i <= MAX_INT64})


def _fields(t: Transfer) -> tuple[int, ...]:
    return (
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount_minor,
        t.ledger,
        t.code,
        t.flags,
        t.pending_id,
        t.timeout_s,
        t.user_data,
        t.timestamp_ns,
    )


def _account(row: object) -> Account:
    return Account(*row)  # type: ignore[misc]  # column order of ACCOUNT_COLUMNS


def _transfer(row: object) -> Transfer:
    return Transfer(*row)  # type: ignore[misc]  # column order of TRANSFER_COLUMNS


ACCOUNT_COLUMNS = [
    accounts.c.id,
    accounts.c.ledger,
    accounts.c.code,
    accounts.c.flags,
    accounts.c.user_data,
    accounts.c.debits_pending,
    accounts.c.debits_posted,
    accounts.c.credits_pending,
    accounts.c.credits_posted,
    accounts.c.timestamp_ns,
]
TRANSFER_COLUMNS = [
    transfers.c.id,
    transfers.c.debit_account_id,
    transfers.c.credit_account_id,
    transfers.c.amount_minor,
    transfers.c.ledger,
    transfers.c.code,
    transfers.c.flags,
    transfers.c.pending_id,
    transfers.c.timeout_s,
    transfers.c.user_data,
    transfers.c.timestamp_ns,
]

_ACCOUNT_SQL = ", ".join(c.name for c in ACCOUNT_COLUMNS)
_TRANSFER_SQL = ", ".join(c.name for c in TRANSFER_COLUMNS)

_UPDATE_BALANCES = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        debits_pending=bindparam("b_dp"),
        debits_posted=bindparam("b_dpo"),
        credits_pending=bindparam("b_cp"),
        credits_posted=bindparam("b_cpo"),
    )
)
_UPDATE_PENDING = (
    update(pending).where(pending.c.transfer_id == bindparam("b_id")).values(status=bindparam("b_status"))
)


_TRANSFERS_BETWEEN = (
    "SELECT debit_account_id, credit_account_id, amount_minor, code FROM ledger_transfers"
    " WHERE timestamp_ns > ? AND timestamp_ns <= ?"
    f" AND (flags & {int(TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER)}) = 0"
    " ORDER BY timestamp_ns LIMIT ?"
)
_SQLITE_INSERT_TRANSFERS = (
    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_minor, ledger, code,"
    " flags, pending_id, timeout_s, user_data, timestamp_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_UPDATE_BALANCES = (
    "UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?,"
    " credits_posted = ? WHERE id = ?"
)


# PostgreSQL: whole columns as arrays in one statement each (one round trip, no per-row binds).
_PG_INSERT_TRANSFERS = (
    "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount_minor, ledger, code,"
    " flags, pending_id, timeout_s, user_data, timestamp_ns)"
    " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
    " %s::bigint[], %s::int[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
)
_PG_UPDATE_BALANCES = (
    "UPDATE ledger_accounts AS a SET debits_pending = v.dp, debits_posted = v.dpo,"
    " credits_pending = v.cp, credits_posted = v.cpo"
    " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
    " AS v(id, dp, dpo, cp, cpo) WHERE a.id = v.id"
)


class SqlLedgerRepository:
    """Loads and writes for one open transaction.

    On SQLite the two hot writes (transfers, balances) go straight to the driver's
    ``executemany`` with tuples: SQLAlchemy's per-row parameter processing costs more than
    SQLite's own insert there. On PostgreSQL (psycopg2) the hot reads and writes pass whole
    columns as arrays (``= ANY(%s)``, ``unnest``): one round trip per statement whatever the
    batch size. Other drivers fall back to Core.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.locking = not self.sqlite

    # ---- reads -------------------------------------------------------------------------
    def load_accounts(self, ids: Iterable[int], *, for_update: bool = False) -> dict[int, Account]:
        out: dict[int, Account] = {}
        if self.conn.dialect.driver == "psycopg2":  # one array parameter instead of thousands of binds
            wanted = _valid(ids)
            if wanted:
                lock = " FOR UPDATE" if for_update else ""
                sql = f"SELECT {_ACCOUNT_SQL} FROM ledger_accounts WHERE id = ANY(%s) ORDER BY id{lock}"
                for row in self.conn.exec_driver_sql(sql, (wanted,)):
                    out[row[0]] = _account(row)
            return out
        for chunk in _chunks(_valid(ids)):
            stmt = select(*ACCOUNT_COLUMNS).where(accounts.c.id.in_(chunk)).order_by(accounts.c.id)
            if for_update and self.locking:
                stmt = stmt.with_for_update()
            for row in self.conn.execute(stmt):
                out[row[0]] = _account(row)
        return out

    def load_transfers(self, ids: Iterable[int]) -> dict[int, Transfer]:
        out: dict[int, Transfer] = {}
        if self.conn.dialect.driver == "psycopg2":
            wanted = _valid(ids)
            if wanted:
                sql = f"SELECT {_TRANSFER_SQL} FROM ledger_transfers WHERE id = ANY(%s)"
                for row in self.conn.exec_driver_sql(sql, (wanted,)):
                    out[row[0]] = _transfer(row)
            return out
        for chunk in _chunks(_valid(ids)):
            for row in self.conn.execute(select(*TRANSFER_COLUMNS).where(transfers.c.id.in_(chunk))):
                out[row[0]] = _transfer(row)
        return out

    def load_pendings(self, ids: Iterable[int]) -> dict[int, Pending]:
        out: dict[int, Pending] = {}
        for chunk in _chunks(_valid(ids)):
            stmt = select(pending.c.transfer_id, pending.c.status, pending.c.expires_at_ns).where(
                pending.c.transfer_id.in_(chunk)
            )
            for tid, status, expires in self.conn.execute(stmt):
                out[tid] = Pending(tid, status, expires)
        return out

    def due_pendings(self, now_ns: int, limit: int = 10_000) -> list[Transfer]:
        """Pending transfers whose timeout has passed and that still hold their reservation."""
        stmt = (
            select(*TRANSFER_COLUMNS)
            .join(pending, pending.c.transfer_id == transfers.c.id)
            .where(
                and_(
                    pending.c.status == int(PendingStatus.PENDING),
                    pending.c.expires_at_ns > 0,
                    pending.c.expires_at_ns <= now_ns,
                )
            )
            .order_by(transfers.c.id)
            .limit(limit)
        )
        return [_transfer(r) for r in self.conn.execute(stmt)]

    def account_transfers(self, account_id: int, limit: int = 100) -> list[Transfer]:
        stmt = (
            select(*TRANSFER_COLUMNS)
            .where(
                or_(transfers.c.debit_account_id == account_id, transfers.c.credit_account_id == account_id)
            )
            .order_by(transfers.c.timestamp_ns.desc(), transfers.c.id.desc())
            .limit(limit)
        )
        return [_transfer(r) for r in self.conn.execute(stmt)]

    def count_transfers(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(transfers)).scalar_one())

    # ---- the clock ---------------------------------------------------------------------
    def reserve_timestamps(self, now_ns: int, count: int) -> int:
        """A base after which ``count`` timestamps (base + 1 … base + count) are this commit's.

        Reads the last timestamp handed out under a row lock (PostgreSQL; SQLite already holds
        the database lock), so commits are stamped in commit order and strictly after every
        earlier one even when the wall clock steps back or two processes' clocks disagree.
        """
        q = select(clock.c.last_timestamp_ns).where(clock.c.id == 1)
        row = self.conn.execute(q.with_for_update() if self.locking else q).first()
        last = 0 if row is None else int(row[0])
        base = max(now_ns, last)
        if row is None:
            self.conn.execute(insert(clock).values(id=1, last_timestamp_ns=base + count))
        else:
            self.conn.execute(update(clock).where(clock.c.id == 1).values(last_timestamp_ns=base + count))
        assert base >= last and base + count <= MAX_INT64, "ledger timestamps must increase across commits"
        return base

    def hold_clock(self) -> int:
        """The last timestamp handed out, with writers held off until this transaction ends.

        A reader that follows the ledger (``margin.live_book``) reads "everything stamped ≤ the
        returned value" consistently: PostgreSQL takes a share lock on the clock row, which
        waits for in-flight writers to commit and keeps new ones out; SQLite already holds the
        database lock.
        """
        q = select(clock.c.last_timestamp_ns).where(clock.c.id == 1)
        row = self.conn.execute(q.with_for_update(read=True) if self.locking else q).first()
        return 0 if row is None else int(row[0])

    def transfers_between(self, after_ns: int, upto_ns: int, limit: int) -> list[tuple[int, int, int, int]]:
        """Posted movements stamped in (after_ns, upto_ns]: (debit id, credit id, amount, code).

        Pending reservations and voids move no posted balance and are left out; a post of a
        pending transfer is stored as its own transfer and is included.
        """
        # plain driver SQL: a marking tick reads thousands of rows here, and SQLAlchemy's
        # per-row processing cost ~30 ms per 2,000 (the driver alone ~3 ms)
        sql = _TRANSFERS_BETWEEN if self.sqlite else _TRANSFERS_BETWEEN.replace("?", "%s")
        rows = self.conn.exec_driver_sql(sql, (after_ns, upto_ns, limit)).fetchall()
        return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]

    # ---- writes ------------------------------------------------------------------------
    def insert_accounts(self, rows: Sequence[Account]) -> None:
        if rows:
            self.conn.execute(
                insert(accounts),
                [{c.name: getattr(a, c.name) for c in ACCOUNT_COLUMNS} for a in rows],
            )

    def insert_transfers(self, rows: Sequence[Transfer]) -> None:
        if rows and self.sqlite:
            self.conn.exec_driver_sql(_SQLITE_INSERT_TRANSFERS, [tuple(_fields(t)) for t in rows])
        elif rows and self.conn.dialect.driver == "psycopg2":
            columns = tuple(list(col) for col in zip(*(_fields(t) for t in rows), strict=True))
            self.conn.exec_driver_sql(_PG_INSERT_TRANSFERS, columns)
        elif rows:
            self.conn.execute(
                insert(transfers),
                [
                    {
                        "id": t.id,
                        "debit_account_id": t.debit_account_id,
                        "credit_account_id": t.credit_account_id,
                        "amount_minor": t.amount_minor,
                        "ledger": t.ledger,
                        "code": t.code,
                        "flags": t.flags,
                        "pending_id": t.pending_id,
                        "timeout_s": t.timeout_s,
                        "user_data": t.user_data,
                        "timestamp_ns": t.timestamp_ns,
                    }
                    for t in rows
                ],
            )

    def insert_pendings(self, rows: Iterable[Pending]) -> None:
        data = [
            {"transfer_id": p.transfer_id, "status": int(p.status), "expires_at_ns": p.expires_at_ns}
            for p in rows
        ]
        if data:
            self.conn.execute(insert(pending), data)

    def update_pendings(self, rows: Iterable[Pending]) -> None:
        data = [{"b_id": p.transfer_id, "b_status": int(p.status)} for p in rows]
        if data:
            self.conn.execute(_UPDATE_PENDING, data)

    def update_balances(self, rows: Iterable[Account]) -> None:
        if self.sqlite:
            tuples = [
                (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted, a.id) for a in rows
            ]
            if tuples:
                self.conn.exec_driver_sql(_SQLITE_UPDATE_BALANCES, tuples)
            return
        if self.conn.dialect.driver == "psycopg2":
            rows = list(rows)
            if rows:
                cols = (
                    [a.id for a in rows],
                    [a.debits_pending for a in rows],
                    [a.debits_posted for a in rows],
                    [a.credits_pending for a in rows],
                    [a.credits_posted for a in rows],
                )
                self.conn.exec_driver_sql(_PG_UPDATE_BALANCES, cols)
            return
        data = [
            {
                "b_id": a.id,
                "b_dp": a.debits_pending,
                "b_dpo": a.debits_posted,
                "b_cp": a.credits_pending,
                "b_cpo": a.credits_posted,
            }
            for a in rows
        ]
        if data:
            self.conn.execute(_UPDATE_BALANCES, data)
