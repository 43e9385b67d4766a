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

An append can carry ``rows``: a callback that writes the decision's other rows (the sealed
PII) on the SAME connection, called only when this transaction really appends the entry.
So the entry, its idempotency record (the unique ``application_id``) and its PII commit or
vanish together, and a losing twin of a race writes nothing at all.

``GroupCommit`` batches concurrent appends of one process into one transaction (one
durable commit, one fsync) without changing the chain: the batch is appended in order
under one head read and one head update. There is no timer: whoever holds the writer's
turn takes every append queued meanwhile (up to ``max_batch``), so a lone request waits
for no one and a burst shares its commits.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

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


RowWriter = Callable[[Connection], None]


@dataclass(frozen=True)
class Append:
    """One decision to append, with the writer of its other rows (same transaction)."""

    decision_id: str
    application_id: str
    payload: dict[str, Any]
    rows: RowWriter | None = None


def _lock_head(conn: Connection) -> tuple[str, int]:
    """The chain's head (hash, seq), locked for this transaction (created at genesis)."""
    head_q = select(journal_head.c.seq, journal_head.c.hash).where(journal_head.c.id == 1)
    if conn.dialect.name != "sqlite":
        head_q = head_q.with_for_update()
    head = conn.execute(head_q).first()
    if head is None:
        conn.execute(insert(journal_head).values(id=1, seq=0, hash=GENESIS_HASH))
        head = conn.execute(head_q).first()
        assert head is not None
    return str(head.hash), int(head.seq)


def _stored(conn: Connection, application_id: str) -> JournalEntry | None:
    row = conn.execute(select(journal).where(journal.c.application_id == application_id)).first()
    return None if row is None else _entry(row)


class DecisionJournal:
    """Append, read and verify decisions in the service database (``ledger.storage`` schema)."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    def append(
        self,
        decision_id: str,
        application_id: str,
        payload: dict[str, Any],
        rows: RowWriter | None = None,
    ) -> JournalEntry:
        """Append a decision; idempotent on ``application_id``.

        If the application already has a decision, that stored entry is returned unchanged
        and ``rows`` is not called (callers compare ``entry.decision_id`` with theirs to know
        whether theirs was kept). A ``decision_id`` already used for another application is
        refused.
        """
        return self.append_many([Append(decision_id, application_id, payload, rows)])[0]

    def append_many(self, items: Sequence[Append]) -> list[JournalEntry]:
        """Append several decisions in ONE transaction, in order (one chain, one commit)."""
        texts = []
        for item in items:
            _check_id(item.decision_id, "decision_id")
            _check_id(item.application_id, "application_id")
            texts.append(canonical_json(item.payload))

        def work(uow: SqlUnitOfWork) -> list[JournalEntry]:
            conn = uow.connection
            prev_hash, seq = _lock_head(conn)
            out: list[JournalEntry] = []
            batch: dict[str, JournalEntry] = {}
            for item, text in zip(items, texts, strict=True):
                stored = batch.get(item.application_id) or _stored(conn, item.application_id)
                if stored is not None:
                    out.append(stored)
                    continue
                if (
                    item.decision_id in {e.decision_id for e in batch.values()}
                    or conn.execute(
                        select(journal.c.seq).where(journal.c.decision_id == item.decision_id)
                    ).first()
                ):
                    raise InputError(f"decision_id {item.decision_id!r} is already used", field="decision_id")
                entry = self._insert(conn, prev_hash, seq + 1, item, text)
                if item.rows is not None:
                    item.rows(conn)
                prev_hash, seq = entry.hash, entry.seq
                batch[item.application_id] = entry
                out.append(entry)
            if batch:
                conn.execute(
                    update(journal_head).where(journal_head.c.id == 1).values(seq=seq, hash=prev_hash)
                )
            return out

        return run_in_transaction(self.engine, work)

    def _insert(self, conn: Connection, prev_hash: str, seq: int, item: Append, text: str) -> JournalEntry:
        created = self.clock()
        digest = entry_hash(prev_hash, seq, item.decision_id, item.application_id, created, text)
        conn.execute(
            insert(journal).values(
                seq=seq,
                decision_id=item.decision_id,
                application_id=item.application_id,
                payload=text,
                created_at_ns=created,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        return JournalEntry(
            seq, item.decision_id, item.application_id, json.loads(text), created, prev_hash, digest
        )

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


class QueueFull(RuntimeError):
    """More appends are waiting than the writer queue holds: shed load (HTTP 503)."""


@dataclass
class _Waiting:
    item: Append
    done: threading.Event = field(default_factory=threading.Event)
    entry: JournalEntry | None = None
    error: BaseException | None = None


class GroupCommit:
    """Concurrent appends of this process share one transaction and one durable commit.

    Leader/follower: each caller queues its append and then takes the writer's turn; the
    caller holding the turn commits everything queued (up to ``max_batch``) in one
    ``append_many``, in arrival order, and wakes the others with their entries. If a batch
    fails as a whole, its appends are retried one by one so that each caller gets its own
    outcome (one bad append never fails its neighbours). The queue is bounded
    (``max_queue``): past it ``QueueFull`` sheds load instead of growing latency without end.
    """

    def __init__(self, journal: DecisionJournal, max_batch: int = 64, max_queue: int = 1024) -> None:
        self.journal = journal
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._turn = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self.commits = 0  # transactions committed (tests and metrics: appends / commits = batch size)

    def append(
        self, decision_id: str, application_id: str, payload: dict[str, Any], rows: RowWriter | None = None
    ) -> JournalEntry:
        waiting = _Waiting(Append(decision_id, application_id, payload, rows))
        with self._queue_lock:
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} journal appends are already waiting")
            self._queue.append(waiting)
        while not waiting.done.is_set():
            with self._turn:
                if waiting.done.is_set():
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._commit(batch)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.entry is not None
        return waiting.entry

    def append_many(self, items: Sequence[Append]) -> list[JournalEntry]:
        """Append ``items`` in ONE transaction of their own (all or none), in the writer's turn."""
        with self._turn:
            entries = self.journal.append_many(items)
            self.commits += 1
            return entries

    def _commit(self, batch: list[_Waiting]) -> None:
        try:
            entries = self.journal.append_many([w.item for w in batch])
            self.commits += 1
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            for one in batch:  # isolate the failing append: each gets its own outcome
                self._commit([one])
            return
        for waiting, entry in zip(batch, entries, strict=True):
            waiting.entry = entry
            waiting.done.set()
