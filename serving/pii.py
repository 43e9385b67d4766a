"""Applicant PII at rest: one AES-GCM-sealed JSON document per application.

The row's application id is the associated data, so a sealed blob moved to another row
no longer opens. PII is kept out of the hash-chained decision journal on purpose: keys
must be able to rotate (re-sealing rows) and PII to be erased on request without
breaking the chain; the journal refers to the application id only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from serving.crypto import Keyring, Sealed
from serving.db import applicant_pii


def _aad(application_id: int) -> bytes:
    return f"creditdesk.pii.application:{application_id}".encode("ascii")


class PiiVault:
    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring

    def seal_row(self, application_id: int, pii: Mapping[str, str]) -> dict[str, object]:
        """The row to insert (sealing happens outside any transaction: it is pure CPU)."""
        plaintext = json.dumps(dict(pii), sort_keys=True, separators=(",", ":")).encode("utf-8")
        sealed = self.keyring.seal(plaintext, _aad(application_id))
        return {
            "application_id": application_id,
            "key_id": sealed.key_id,
            "nonce": sealed.nonce,
            "ciphertext": sealed.ciphertext,
            "created_at": datetime.now(UTC),
        }

    def put(self, application_id: int, pii: Mapping[str, str], conn: Connection | None = None) -> None:
        """Store the PII of an application (inside the caller's transaction when given)."""
        row = self.seal_row(application_id, pii)
        if conn is not None:
            conn.execute(applicant_pii.insert().values(**row))
            return
        with self.engine.begin() as own:
            own.execute(applicant_pii.insert().values(**row))

    def get(self, application_id: int) -> dict[str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(applicant_pii.c.key_id, applicant_pii.c.nonce, applicant_pii.c.ciphertext).where(
                    applicant_pii.c.application_id == application_id
                )
            ).first()
        if row is None:
            return None
        sealed = Sealed(row.key_id, bytes(row.nonce), bytes(row.ciphertext))
        result: dict[str, str] = json.loads(self.keyring.open(sealed, _aad(application_id)))
        return result

    def rotate(self, batch_size: int = 500) -> int:
        """Re-seal every row not under the active key; returns how many were re-sealed.

        Works in bounded batches, each its own transaction, so a large table rotates
        without one giant lock and a crash midway loses nothing (rows keep a valid key id).
        """
        rotated = 0
        active = self.keyring.active_key_id
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    sa.select(
                        applicant_pii.c.application_id,
                        applicant_pii.c.key_id,
                        applicant_pii.c.nonce,
                        applicant_pii.c.ciphertext,
                    )
                    .where(applicant_pii.c.key_id != active)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return rotated
                for row in rows:
                    aad = _aad(row.application_id)
                    old = Sealed(row.key_id, bytes(row.nonce), bytes(row.ciphertext))
                    fresh = self.keyring.rotate(old, aad)
                    conn.execute(
                        applicant_pii.update()
                        .where(applicant_pii.c.application_id == row.application_id)
                        .values(key_id=fresh.key_id, nonce=fresh.nonce, ciphertext=fresh.ciphertext)
                    )
                rotated += len(rows)

    def count_by_key(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(applicant_pii.c.key_id, sa.func.count()).group_by(applicant_pii.c.key_id)
            ).all()
        return {str(k): int(n) for k, n in rows}
