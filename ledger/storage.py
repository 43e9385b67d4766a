"""The service database: table definitions, engine set-up and Alembic migrations.

SQLAlchemy Core, not the ORM: the ledger writes thousands of rows per batch with
``executemany`` and reads balances with one ``IN`` query, so the ORM's identity map would
only add cost. The schema is created by Alembic (``ledger/migrations``, version table
``alembic_version_ledger``) on SQLite and PostgreSQL alike; ``metadata`` mirrors it and a
test checks that the two agree.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed batch survives power loss)
and every transaction starts with ``BEGIN IMMEDIATE`` so writers queue on the database
lock instead of failing half way with "database is locked".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
)

VERSION_TABLE = "alembic_version_ledger"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("ledger", BigInteger, nullable=False),
    Column("code", BigInteger, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("user_data", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("timestamp_ns", BigInteger, nullable=False),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("ledger", BigInteger, nullable=False),
    Column("code", BigInteger, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("pending_id", BigInteger, nullable=False),
    Column("timeout_s", BigInteger, nullable=False),
    Column("user_data", BigInteger, nullable=False),
    Column("timestamp_ns", BigInteger, nullable=False),
    Index("ix_ledger_transfers_debit", "debit_account_id"),
    Index("ix_ledger_transfers_credit", "credit_account_id"),
    Index("ix_ledger_transfers_timestamp", "timestamp_ns"),
)

# One row: the last timestamp the ledger handed out (to accounts or transfers). Commits stamp
# strictly after it under a lock, so timestamps increase across commits, not only in a batch.
clock = Table(
    "ledger_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_timestamp_ns", BigInteger, nullable=False),
)

pending = Table(
    "ledger_pending",
    metadata,
    Column("transfer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("status", SmallInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Index("ix_ledger_pending_due", "status", "expires_at_ns"),
)

journal = Table(
    "decision_journal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_id", String(64), nullable=False, unique=True),
    Column("application_id", String(64), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

journal_head = Table(
    "decision_journal_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own is deferred)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for the service database at ``url`` (SQLite file or PostgreSQL).

    ``read_only``: for commands that only read (``decisions verify``, reports): no pragma
    that writes, no folder created, no migration; see ``read_only_engine``.
    """
    if read_only:
        return read_only_engine(url, **kwargs)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql+psycopg2") or url.startswith("postgresql://"):
        kwargs.setdefault("executemany_mode", "values_plus_batch")
    return create_engine(url, **kwargs)


def read_only_engine(url: str, **kwargs: Any) -> Engine:
    """An engine that can only read, so an auditor can check a read-only snapshot.

    SQLite opens with ``mode=ro`` (no WAL pragma: switching journal mode is a write). A WAL
    database whose folder is read-only cannot create its ``-shm`` index, so such a snapshot
    is opened ``immutable=1`` instead: correct for a copy nobody writes, which is what a
    read-only snapshot is. PostgreSQL sessions start ``default_transaction_read_only``.
    A missing SQLite file is refused (``FileNotFoundError``), never created.
    """
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("connect_args", {"options": "-c default_transaction_read_only=on"})
        return create_engine(url, **kwargs)
    import sqlite3
    from urllib.parse import quote

    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:" or not Path(path).is_file():
        raise FileNotFoundError(f"no SQLite database at {path or url!r}")
    target = quote(str(Path(path).resolve()))

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:  # WAL without a writable folder for -shm
            conn.close()
            conn = sqlite3.connect(f"file:{target}?immutable=1", uri=True, check_same_thread=False)
        return conn

    return create_engine("sqlite://", creator=connect, **kwargs)


def alembic_config(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> Any:
    """Alembic's configuration for the chain in ``migrations_dir`` (its ``env.py`` names the
    metadata and version table), so the margin chain runs through this one function."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head", *, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    """Bring the schema of ``engine``'s database to ``revision`` of the chain in
    ``migrations_dir`` (the ledger's by default; idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False), migrations_dir)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def configured_engine() -> Engine:
    """The configured service database (``CREDITDESK_DB_URL`` or ``var/ledger.db``), not migrated:
    each room's ``default_engine`` brings it to its own chains' head."""
    from creditdesk.settings import get_settings

    return make_engine(get_settings().database_url)


def default_engine() -> Engine:
    """The configured service database (``CREDITDESK_DB_URL`` or ``var/ledger.db``), migrated."""
    engine = configured_engine()
    migrate(engine)
    return engine
