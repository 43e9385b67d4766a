"""The Alembic environment both service-database chains run (the ledger's and the margin room's).

Each chain keeps its own ``env.py`` (Alembic looks for one per script folder) naming its
metadata and version table; the running is the same, so it lives here once. Online it uses
the connection handed over by the caller (``ledger.storage.migrate``,
``margin.storage.migrate``) or, from the ``alembic`` command line, ``sqlalchemy.url`` /
``CREDITDESK_DB_URL`` / the default ``var/ledger.db``; offline it renders SQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from ledger.storage import make_engine


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from creditdesk.settings import get_settings

    return get_settings().database_url


def run(metadata: sa.MetaData, version_table: str) -> None:
    """Run the chain's migrations against ``metadata``, recording them in ``version_table``."""
    if context.is_offline_mode():
        context.configure(
            url=_url(), target_metadata=metadata, version_table=version_table, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    engine.dispose()
