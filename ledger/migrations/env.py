"""Alembic environment of the ledger's tables (accounts, transfers, pendings, clock, decision journal).

The margin tables have their own chain (``margin/migrations``, ``alembic_version_margin``).

Runs against the connection handed over by ``ledger.storage.migrate`` or, from the
``alembic`` command line, against ``sqlalchemy.url`` / ``CREDITDESK_DB_URL`` / the default
``var/ledger.db``. Its own version table lets other environments share the database.
"""

from __future__ import annotations

from alembic import context

from ledger.storage import VERSION_TABLE, make_engine, metadata


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
