"""API keys on real databases: only hashes stored, roles kept, revocation honoured."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from creditdesk.errors import InputError
from serving.db import api_keys, current_revision, dispose_engines, get_engine, head_revision, migrate
from serving.keys import KeyStore, Role, create_key, revoke_key


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    migrate(url)
    return url


def test_token_is_never_stored_only_its_sha256(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    created = create_key(get_engine(url), Role.onboarding, "web")
    dispose_engines()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    secret = created.token[len("cdk_") + len(created.key_id) + 1 :]
    assert created.token.encode() not in raw and secret.encode() not in raw
    with get_engine(url).connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == created.key_id)).one()
    assert row.key_sha256 == hashlib.sha256(created.token.encode()).hexdigest()
    assert (row.role, row.label) == ("onboarding", "web")
    dispose_engines()


def test_authenticate_accepts_the_token_and_nothing_close_to_it(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    engine = get_engine(url)
    created = create_key(engine, "analyst")
    store = KeyStore(engine, cache_seconds=0)
    principal = store.authenticate(created.token)
    assert principal is not None and principal.role is Role.analyst and principal.key_id == created.key_id
    last = created.token[-1]
    altered = created.token[:-1] + ("A" if last != "A" else "B")
    for bad in [altered, created.token + "x", created.token[:-1], "", "Bearer " + created.token, "cdk_x_y"]:
        assert store.authenticate(bad) is None
    dispose_engines()


def test_revoked_key_stops_working_after_the_cache_window(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    engine = get_engine(url)
    created = create_key(engine, Role.operations)
    uncached = KeyStore(engine, cache_seconds=0)
    cached = KeyStore(engine, cache_seconds=3600)
    assert uncached.authenticate(created.token) is not None
    assert cached.authenticate(created.token) is not None
    assert revoke_key(engine, created.key_id) is True
    assert revoke_key(engine, created.key_id) is False  # already revoked
    assert uncached.authenticate(created.token) is None
    assert cached.authenticate(created.token) is not None  # trusted until the window ends...
    cached.forget(created.key_id)
    assert cached.authenticate(created.token) is None  # ...or until this process forgets it
    dispose_engines()


def test_unknown_role_and_long_label_are_input_errors(tmp_path: Path) -> None:
    engine = get_engine(_sqlite(tmp_path))
    with pytest.raises(InputError, match="role must be one of"):
        create_key(engine, "root")
    with pytest.raises(InputError, match="at most 200"):
        create_key(engine, "admin", "x" * 201)
    dispose_engines()


def test_migration_is_idempotent_and_uses_its_own_version_table(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    assert migrate(url) == head_revision()
    engine = get_engine(url)
    assert current_revision(engine) == head_revision()
    names = set(sa.inspect(engine).get_table_names())
    assert {"alembic_version_serving", "serving_api_keys", "serving_applicant_pii"} <= names
    assert "alembic_version" not in names  # the ledger's Alembic table stays the ledger's
    dispose_engines()


@pytest.mark.postgres
def test_keys_on_postgresql(pg_schema_url: str) -> None:
    migrate(pg_schema_url)
    pg = get_engine(pg_schema_url)
    created = create_key(pg, Role.admin, "pg test")
    try:
        principal = KeyStore(pg, cache_seconds=0).authenticate(created.token)
        assert principal is not None and principal.role is Role.admin
        assert revoke_key(pg, created.key_id)
        assert KeyStore(pg, cache_seconds=0).authenticate(created.token) is None
    finally:
        with pg.begin() as conn:
            conn.execute(api_keys.delete().where(api_keys.c.key_id == created.key_id))
        dispose_engines()
