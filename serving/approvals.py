"""Maker-checker for critical operations, with every step in the hash-chained audit log.

A critical operation (a policy change, a forced promotion, a manual liquidation, a PII key
rotation) is first *requested* by one API key (the maker) and then *approved* or *refused*
by another (the checker); the maker can never check their own request. Identity is the API
key: a person must hold one key (keys carry labels; ``keys create`` is itself an admin act).

Each step (request, approval, refusal, execution) is one transaction that writes the
request's row AND appends an audit entry to the decision journal's hash chain
(``application_id = "audit:<request id>:<step>"``, payload ``{"audit": {...}}``), so
``creditdesk decisions verify`` covers the audit trail too, and no step exists without its
audit entry. An approved ``key_rotation`` is executed at once (re-seal every PII row under
the active key) and its result audited; the other kinds are approved tokens the executing
command must cite (their executors live in other rooms).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.journal import GroupCommit
from serving.db import approvals

KINDS = ("policy_change", "forced_promotion", "manual_liquidation", "key_rotation")


class MakerCannotCheck(PermissionError):
    """The key that requested an operation tried to approve or refuse it."""


class NotPending(RuntimeError):
    """The request was already approved or refused."""


@dataclass(frozen=True)
class Approval:
    approval_id: str
    kind: str
    subject: dict[str, Any]
    reason: str
    maker: str
    state: str
    checker: str | None
    note: str | None
    result: dict[str, Any] | None


def _row(row: Any) -> Approval:
    return Approval(
        approval_id=row.approval_id,
        kind=row.kind,
        subject=json.loads(row.subject),
        reason=row.reason,
        maker=row.maker,
        state=row.state,
        checker=row.checker,
        note=row.note,
        result=json.loads(row.result) if row.result else None,
    )


class Approvals:
    """Request, approve, refuse; each step audited in the same transaction as its row."""

    def __init__(
        self, engine: Engine, writer: GroupCommit, execute: Callable[[Approval], dict[str, Any]]
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.execute = execute  # runs an approved operation of an executable kind

    def get(self, approval_id: str) -> Approval | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(approvals).where(approvals.c.approval_id == approval_id)).first()
        return None if row is None else _row(row)

    def request(self, kind: str, subject: dict[str, Any], reason: str, maker: str) -> Approval:
        approval_id = uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC)
        row = {
            "approval_id": approval_id,
            "kind": kind,
            "subject": json.dumps(subject, sort_keys=True),
            "reason": reason,
            "maker": maker,
            "state": "pending",
            "created_at": now,
        }

        def write(conn: Connection) -> None:
            conn.execute(approvals.insert().values(**row))

        self._audit(
            approval_id, "requested", {"kind": kind, "subject": subject, "reason": reason, "by": maker}, write
        )
        found = self.get(approval_id)
        assert found is not None
        return found

    def decide(self, approval_id: str, checker: str, approve: bool, note: str) -> Approval:
        current = self.get(approval_id)
        if current is None:
            raise KeyError(approval_id)
        if current.maker == checker:
            raise MakerCannotCheck("the key that requested this operation cannot approve or refuse it")
        if current.state != "pending":
            raise NotPending(f"request {approval_id} is already {current.state}")
        state = "approved" if approve else "refused"

        def write(conn: Connection) -> None:
            done = conn.execute(
                approvals.update()
                .where(approvals.c.approval_id == approval_id, approvals.c.state == "pending")
                .values(state=state, checker=checker, note=note, decided_at=dt.datetime.now(dt.UTC))
            )
            if done.rowcount != 1:  # another checker decided first: this transaction writes nothing
                raise NotPending(f"request {approval_id} was decided meanwhile")

        self._audit(approval_id, state, {"by": checker, "note": note, "kind": current.kind}, write)
        decided = self.get(approval_id)
        assert decided is not None
        if approve and decided.kind == "key_rotation":
            result = self.execute(decided)
            self._record_result(decided, result)
            decided = self.get(approval_id)
            assert decided is not None
        return decided

    def _record_result(self, approval: Approval, result: dict[str, Any]) -> None:
        def write(conn: Connection) -> None:
            conn.execute(
                approvals.update()
                .where(approvals.c.approval_id == approval.approval_id)
                .values(state="executed", result=json.dumps(result, sort_keys=True))
            )

        self._audit(approval.approval_id, "executed", {"kind": approval.kind, "result": result}, write)

    def _audit(
        self, approval_id: str, step: str, facts: dict[str, Any], rows: Callable[[Connection], None]
    ) -> None:
        payload = {"audit": {"approval_id": approval_id, "step": step, **facts}}
        entry = self.writer.append(uuid.uuid4().hex, f"audit:{approval_id}:{step}", payload, rows=rows)
        if entry.payload != payload:  # the step was recorded already: nothing new was written
            raise NotPending(f"request {approval_id} is already {step}")
