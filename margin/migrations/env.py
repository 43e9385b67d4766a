"""Alembic environment of the margin room's tables (facilities, instrument master, calls, risk controls).

The margin tables live in the service database beside the ledger's but have their own
migration history and version table (``alembic_version_margin``): the ledger's chain knows
nothing of them. Runs against the connection handed over by ``margin.storage.migrate`` or,
from the command line (``alembic -n margin upgrade head``), against ``sqlalchemy.url`` /
``CREDITDESK_DB_URL`` / the default ``var/ledger.db``.
"""

from __future__ import annotations

from alembic import context

from ledger.storage import make_engine
from margin.storage import VERSION_TABLE, metadata


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from creditdesk.settings import get_settings

    return get_settings().database_url


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
