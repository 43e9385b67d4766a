"""The service's own tables (API keys, encrypted PII) and their Alembic environment.

They live in the same database as the ledger (SQLite by default, PostgreSQL by URL) but
under their own ``serving_`` names and their own Alembic version table
(``alembic_version_serving``), so the ledger's migrations and ours never step on each other.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

VERSION_TABLE = "alembic_version_serving"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

metadata = sa.MetaData()

api_keys = sa.Table(
    "serving_api_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True, comment="public part of the token, for lookup"),
    sa.Column("key_sha256", sa.String(64), nullable=False, comment="hex sha256 of the whole token"),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

applicant_pii = sa.Table(
    "serving_applicant_pii",
    metadata,
    sa.Column("application_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("key_id", sa.String(32), nullable=False, comment="PII key that sealed this row"),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False, comment="AES-256-GCM of the PII JSON"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

policies = sa.Table(
    "serving_policies",
    metadata,
    sa.Column("policy_hash", sa.String(64), primary_key=True, comment="sha256 of the policy file"),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False, comment="the validated policy as JSON"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

rate_buckets = sa.Table(
    "serving_rate_buckets",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False, comment="tokens left at updated_at"),
    sa.Column("updated_at", sa.Float, nullable=False, comment="unix seconds"),
)

approvals = sa.Table(
    "serving_approvals",
    metadata,
    sa.Column("approval_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.Text, nullable=False, comment="what to do, as JSON"),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("maker", sa.String(16), nullable=False, comment="API key id that requested it"),
    sa.Column("state", sa.String(16), nullable=False, comment="pending | approved | refused | executed"),
    sa.Column("checker", sa.String(16), nullable=True, comment="API key id that approved or refused it"),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("result", sa.Text, nullable=True, comment="outcome of an executed operation, as JSON"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
)

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (GET /v1/decisions, the CLI) run while a worker writes; the busy
    # timeout makes two workers queue for the write lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process (creating the SQLite file's folder if needed)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and forked workers that must not share sockets)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None, "serving migrations have no head revision"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def migrate(url: str) -> str:
    """Bring the serving tables to the head revision (a no-op when they are there already)."""
    from alembic import command

    engine = get_engine(url)
    head = head_revision()
    if current_revision(engine) == head:
        return head
    config = _alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head
