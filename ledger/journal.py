"""The decision journal: append-only, hash-chained record of every credit decision.

Each row stores the decision's payload as canonical JSON (sorted keys, no spaces, UTF-8, no
NaN) and ``hash = sha256(prev_hash | seq | decision_id | application_id | created_at_ns |
payload)``. Editing any field of a row breaks its own hash; deleting a row breaks the
``prev_hash`` link (and the ``seq`` run) of the next one; deleting the newest rows is caught
by the head row, which records the last ``seq`` and hash and is written in the same
transaction as each append. Someone who can rewrite the whole table and the head can
forge a consistent chain: export the head hash elsewhere (e.g. the daily report) to close
that gap.

Appends are serialised by a row lock on the head (PostgreSQL) or the database lock
(SQLite), so the chain never forks under concurrent writers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from creditdesk.errors import InputError
from ledger.storage import journal, journal_head
from ledger.unit_of_work import SqlUnitOfWork, run_in_transaction

GENESIS_HASH = "0" * 64
MAX_ID_LENGTH = 64
MAX_PAYLOAD_BYTES = 1_000_000


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    decision_id: str
    application_id: str
    payload: dict[str, Any]
    created_at_ns: int
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class JournalBreak:
    seq: int
    decision_id: str | None
    problem: str


def canonical_json(payload: dict[str, Any]) -> str:
    """The one text form that is hashed: the same dict always gives the same bytes."""
    if not isinstance(payload, dict):
        raise InputError("payload must be a JSON object", field="payload")
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"payload is not plain JSON (finite numbers, str keys): {exc}", field="payload"
        ) from exc
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InputError(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes", field="payload")
    return text


def entry_hash(
    prev_hash: str, seq: int, decision_id: str, application_id: str, created_at_ns: int, payload_text: str
) -> str:
    h = hashlib.sha256()
    for part in (prev_hash, str(seq), decision_id, application_id, str(created_at_ns), payload_text):
        h.update(part.encode())
        h.update(b"\x1f")  # unit separator: no field can run into the next
    return h.hexdigest()


def _check_id(value: str, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH or not value.isprintable():
        raise InputError(f"{name} must be a printable string of 1 to {MAX_ID_LENGTH} characters", field=name)


def _entry(row: Any) -> JournalEntry:
    return JournalEntry(
        seq=row.seq,
        decision_id=row.decision_id,
        application_id=row.application_id,
        payload=json.loads(row.payload),
        created_at_ns=row.created_at_ns,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class DecisionJournal:
    """Append, read and verify decisions in the service database (``ledger.storage`` schema)."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    def append(self, decision_id: str, application_id: str, payload: dict[str, Any]) -> JournalEntry:
        """Append a decision; idempotent on ``application_id``.

        If the application already has a decision, that stored entry is returned unchanged
        (callers compare ``entry.decision_id`` with theirs to know whether theirs was kept).
        A ``decision_id`` already used for another application is refused.
        """
        _check_id(decision_id, "decision_id")
        _check_id(application_id, "application_id")
        text = canonical_json(payload)

        def work(uow: SqlUnitOfWork) -> JournalEntry:
            conn = uow.connection
            head_q = select(journal_head.c.seq, journal_head.c.hash).where(journal_head.c.id == 1)
            if conn.dialect.name != "sqlite":
                head_q = head_q.with_for_update()
            head = conn.execute(head_q).first()
            if head is None:
                conn.execute(insert(journal_head).values(id=1, seq=0, hash=GENESIS_HASH))
                head = conn.execute(head_q).first()
                assert head is not None
            stored = conn.execute(select(journal).where(journal.c.application_id == application_id)).first()
            if stored is not None:
                return _entry(stored)
            if conn.execute(select(journal.c.seq).where(journal.c.decision_id == decision_id)).first():
                raise InputError(f"decision_id {decision_id!r} is already used", field="decision_id")
            seq = head.seq + 1
            created = self.clock()
            digest = entry_hash(head.hash, seq, decision_id, application_id, created, text)
            conn.execute(
                insert(journal).values(
                    seq=seq,
                    decision_id=decision_id,
                    application_id=application_id,
                    payload=text,
                    created_at_ns=created,
                    prev_hash=head.hash,
                    hash=digest,
                )
            )
            conn.execute(update(journal_head).where(journal_head.c.id == 1).values(seq=seq, hash=digest))
            return JournalEntry(
                seq, decision_id, application_id, json.loads(text), created, head.hash, digest
            )

        return run_in_transaction(self.engine, work)

    def get(self, decision_id: str) -> JournalEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(journal).where(journal.c.decision_id == decision_id)).first()
        return None if row is None else _entry(row)

    def get_by_application(self, application_id: str) -> JournalEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(journal).where(journal.c.application_id == application_id)).first()
        return None if row is None else _entry(row)

    def verify(self, batch_rows: int = 10_000) -> list[JournalBreak]:
        """Walk the whole chain; every edited, deleted or reordered row shows up as a break."""
        breaks: list[JournalBreak] = []
        prev_hash, expected_seq, last_seq = GENESIS_HASH, 1, 0
        with self.engine.connect() as conn:
            head = conn.execute(select(journal_head.c.seq, journal_head.c.hash)).first()
            after = 0
            while True:
                rows = conn.execute(
                    select(journal).where(journal.c.seq > after).order_by(journal.c.seq).limit(batch_rows)
                ).all()
                if not rows:
                    break
                for row in rows:
                    if row.seq != expected_seq:
                        breaks.append(
                            JournalBreak(
                                row.seq, row.decision_id, f"rows {expected_seq}..{row.seq - 1} missing"
                            )
                        )
                    if row.prev_hash != prev_hash:
                        breaks.append(
                            JournalBreak(row.seq, row.decision_id, "prev_hash does not match the row before")
                        )
                    digest = entry_hash(
                        row.prev_hash,
                        row.seq,
                        row.decision_id,
                        row.application_id,
                        row.created_at_ns,
                        row.payload,
                    )
                    if digest != row.hash:
                        breaks.append(
                            JournalBreak(row.seq, row.decision_id, "content does not match its hash")
                        )
                    prev_hash, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
                after = rows[-1].seq
        head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
        if head_seq != last_seq or head_hash != prev_hash:
            breaks.append(
                JournalBreak(
                    head_seq, None, f"head says seq {head_seq}, chain ends at {last_seq}: rows deleted"
                )
            )
        return breaks
