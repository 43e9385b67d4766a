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
the active key) and its result audited. The other kinds are executed by the command that
cites the approved request, once (``consume``: approved -> executed, audited, in one
transaction; a failure afterwards is audited too):

- ``forced_promotion``: ``creditdesk promote --force --reason R --approval ID`` (subject
  ``pd_version``);
- ``manual_liquidation``: ``creditdesk ledger sell --liquidation --approval ID`` (subject
  ``customer``, ``instrument``, ``quantity``);
- ``policy_change``: the service loads a policy other than the one in force (the newest it
  recorded) only when a request naming its ``policy_hash`` was approved (``policy_guard``).
"""

from __future__ import annotations

import contextlib
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


class NotApproved(PermissionError):
    """A critical operation cited a request that is not an approved one of its kind and subject."""


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

    def consume(self, approval_id: str, kind: str, subject: dict[str, Any], by: str) -> Approval:
        """Mark an approved request of ``kind`` whose subject matches ``subject`` executed, once.

        Values compare as text (a CLI's ``7`` is the API's ``"7"``); every key of ``subject``
        must match. Raises ``NotApproved`` for anything else (unknown, pending, refused,
        already executed, another kind or subject): the operation must not run.
        """
        current = self.get(approval_id)
        if current is None:
            raise NotApproved(f"no maker-checker request {approval_id}")
        if current.kind != kind:
            raise NotApproved(f"request {approval_id} is a {current.kind}, not a {kind}")
        if current.state != "approved":
            raise NotApproved(f"request {approval_id} is {current.state}, not approved")
        wanted = {k: str(v) for k, v in subject.items()}
        if {k: str(current.subject.get(k)) for k in wanted} != wanted:
            raise NotApproved(f"request {approval_id} approved {current.subject}, not {wanted}")
        result = {"by": by, "subject": wanted}

        def write(conn: Connection) -> None:
            done = conn.execute(
                approvals.update()
                .where(approvals.c.approval_id == approval_id, approvals.c.state == "approved")
                .values(state="executed", result=json.dumps(result, sort_keys=True))
            )
            if done.rowcount != 1:
                raise NotApproved(f"request {approval_id} was used meanwhile")

        try:
            self._audit(approval_id, "executed", {"kind": kind, "result": result}, write)
        except NotPending:
            raise NotApproved(f"request {approval_id} was used already") from None
        used = self.get(approval_id)
        assert used is not None
        return used

    def record_failure(self, approval_id: str, error: str) -> None:
        """Audit that the operation an executed request allowed failed (a new request is needed)."""
        self._audit(approval_id, "failed", {"error": error[:500]}, lambda conn: None)

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


def approved_policy(engine: Engine, policy_hash: str) -> Approval | None:
    """An approved (or already executed) ``policy_change`` naming ``policy_hash``, if any."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(approvals).where(
                approvals.c.kind == "policy_change", approvals.c.state.in_(("approved", "executed"))
            )
        ).all()
    found = [_row(r) for r in rows]
    return next((a for a in found if str(a.subject.get("policy_hash")) == policy_hash), None)


def policy_in_force(engine: Engine) -> str | None:
    """The hash of the newest policy the service decided under (None before the first decision)."""
    from serving.db import policies

    with engine.connect() as conn:
        row = conn.execute(
            sa.select(policies.c.policy_hash).order_by(policies.c.created_at.desc()).limit(1)
        ).first()
    return None if row is None else str(row[0])


def policy_guard(engine: Engine, writer: Callable[[], GroupCommit]) -> Callable[[Any], None]:
    """``guard(loaded)`` for ``Runtime``: a policy other than the one in force loads only with
    an approved ``policy_change`` naming its hash (marked executed by the first load, audited);
    the first policy of a new database loads freely. Raises ``NotApproved`` otherwise."""

    def guard(loaded: Any) -> None:
        digest = str(loaded.versions.get("policy_hash", ""))
        in_force = policy_in_force(engine)
        if in_force is None or in_force == digest:
            return
        approval = approved_policy(engine, digest)
        if approval is None:
            raise NotApproved(
                f"policy {digest[:12]}… is not the one in force ({in_force[:12]}…): a policy change "
                "needs a policy_change request naming its policy_hash, approved by a second key"
            )
        if approval.state == "approved":
            with contextlib.suppress(NotApproved):  # another worker marked it executed first
                Approvals(engine, writer(), lambda a: {}).consume(
                    approval.approval_id, "policy_change", {"policy_hash": digest}, by="service load"
                )

    return guard
