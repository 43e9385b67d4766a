"""Alembic environment of the ledger's tables (accounts, transfers, pendings, clock, decision journal).

The margin tables have their own chain (``margin/migrations``, ``alembic_version_margin``).

Runs against the connection handed over by ``ledger.storage.migrate`` or, from the
``alembic`` command line, against ``sqlalchemy.url`` / ``CREDITDESK_DB_URL`` / the default
``var/ledger.db``. Its own version table lets other environments share the database.
"""

from __future__ import annotations

from ledger.alembic_env import run
from ledger.storage import VERSION_TABLE, metadata

run(metadata, VERSION_TABLE)
