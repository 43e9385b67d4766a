"""Alembic environment of the margin room's tables (facilities, instrument master, calls, risk controls).

The margin tables live in the service database beside the ledger's but have their own
migration history and version table (``alembic_version_margin``): the ledger's chain knows
nothing of them. Runs against the connection handed over by ``margin.storage.migrate`` or,
from the command line (``alembic -n margin upgrade head``), against ``sqlalchemy.url`` /
``CREDITDESK_DB_URL`` / the default ``var/ledger.db``.
"""

from __future__ import annotations

from ledger.alembic_env import run
from margin.storage import VERSION_TABLE, metadata

run(metadata, VERSION_TABLE)
