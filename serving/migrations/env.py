"""Alembic environment of the serving tables (run programmatically by ``serving.db.migrate``).

No ini file and no logging set-up here: the caller passes a connection (or a URL) and our
own version table, so this environment coexists with the ledger's in one database.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from serving.db import VERSION_TABLE, metadata


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Only our own tables: never propose dropping the ledger's.
    return not (type_ == "table" and name is not None and not name.startswith("serving_"))


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "include_object": _include_object,
        "render_as_batch": True,
    }
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    if connection is None:
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
        with engine.begin() as conn:
            context.configure(connection=conn, **options)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


run()
