"""API keys with roles, stored as hashes.

A token is ``cdk_<key_id>_<secret>``: the key id is public (it finds the row, and shows in
logs), the secret is 256 random bits. Only the sha256 of the whole token is stored. A slow
password hash (scrypt, argon2) exists to make guessing *low-entropy* secrets expensive;
nobody can enumerate 2^256 secrets, so a fast hash is as safe here and keeps verification
at microseconds on the decision hot path. The comparison is constant-time all the same.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from creditdesk.errors import InputError
from serving.db import api_keys

TOKEN_PREFIX = "cdk"
_TOKEN = re.compile(r"^cdk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class Role(enum.StrEnum):
    """What a key may do; each route names the roles it admits."""

    onboarding = "onboarding"  # request decisions
    analyst = "analyst"  # read stored decisions
    operations = "operations"  # ledger accounts, transfers, prices, margin
    admin = "admin"  # reload models, manage keys


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    role: Role
    label: str


@dataclass(frozen=True)
class NewKey:
    key_id: str
    role: Role
    token: str  # shown once, never stored


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InputError(f"role must be one of {allowed}; got {value!r}", field="role") from None


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_key(engine: Engine, role: Role | str, label: str = "") -> NewKey:
    """Mint a key, store its hash, return the token (the only time it exists in clear)."""
    role = parse_role(role) if isinstance(role, str) and not isinstance(role, Role) else Role(role)
    if len(label) > 200:
        raise InputError("label must be at most 200 characters", field="label")
    for _attempt in range(5):  # key ids are 48 random bits; a clash is astronomically rare
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        try:
            with engine.begin() as conn:
                conn.execute(
                    api_keys.insert().values(
                        key_id=key_id,
                        key_sha256=_sha256(token),
                        role=role.value,
                        label=label,
                        created_at=datetime.now(UTC),
                    )
                )
        except sa.exc.IntegrityError:
            continue
        return NewKey(key_id=key_id, role=role, token=token)
    raise RuntimeError("could not allocate a unique API key id")


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Mark a key revoked; True when a live key was revoked."""
    with engine.begin() as conn:
        result = conn.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return result.rowcount == 1


class KeyStore:
    """Verifies bearer tokens against the database, caching positive answers briefly.

    Only verified keys are cached (for ``cache_seconds``), so a key minted by the CLI
    works on the next request and a revocation takes effect within ``cache_seconds``.
    """

    def __init__(self, engine: Engine, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str, Principal, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> Principal | None:
        match = _TOKEN.match(token)
        if match is None:
            return None
        key_id = match.group(1)
        digest = _sha256(token)
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached[2] > now:
            return cached[1] if hmac.compare_digest(cached[0], digest) else None
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys.c.key_sha256, api_keys.c.role, api_keys.c.label).where(
                    api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_sha256, digest):
            return None
        principal = Principal(key_id=key_id, role=Role(row.role), label=row.label)
        with self._lock:
            if len(self._cache) > 10_000:  # bound memory whatever the key count
                self._cache.clear()
            self._cache[key_id] = (digest, principal, now + self._cache_seconds)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a key from this process's cache (after revoking it here)."""
        with self._lock:
            self._cache.pop(key_id, None)
