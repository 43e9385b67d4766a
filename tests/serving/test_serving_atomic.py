"""One atomic write per decision: PII, journal entry and idempotency record commit together.

Issue 16 saw a stored decision carrying another applicant's PII: the PII insert and the
journal append were separate transactions and an IntegrityError on the PII meant "already
stored". These tests reproduce each path (an orphan PII row left by a crash, a race of two
workers with different bodies under one application id, a failing append) on the real
journal and vault, then check the invariant: every PII row belongs to a journalled decision
whose request digest matches that PII, and nothing else is stored.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.journal import DecisionJournal, GroupCommit
from ledger.storage import journal, make_engine
from serving.db import applicant_pii
from serving.decide import Conflict, DecisionService, request_digest, stored_request
from serving.schemas import DecisionRequest

pytestmark = pytest.mark.slow


def _variant(body: dict[str, Any], i: int) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["applicant"]["full_name"] = f"Applicant Number {i}"
    out["applicant"]["national_id"] = f"ID{i:06d}"
    return out


def assert_no_orphans(svc: Any) -> None:
    """Each PII row has a journal entry, and the entry was made from exactly that PII."""
    engine = make_engine(svc.settings.database_url)
    reader = DecisionJournal(engine)
    with engine.connect() as conn:
        pii_ids = [r[0] for r in conn.execute(sa.select(applicant_pii.c.application_id))]
        journal_ids = {r[0] for r in conn.execute(sa.select(journal.c.application_id))}
    assert {str(i) for i in pii_ids} <= journal_ids, "PII stored without a decision"
    for app_id in pii_ids:
        entry = reader.get_by_application(str(app_id))
        assert entry is not None
        pii = svc.pii.get(app_id)
        request = stored_request(entry.payload, pii)
        assert request_digest(request) == entry.payload["request_sha256"], "decision carries foreign PII"
    assert reader.verify() == []


def race(workers: list[DecisionService], requests: list[DecisionRequest]) -> list[str]:
    """Send every request at once, alternating workers; the decision ids (or "conflict")."""
    barrier = threading.Barrier(len(requests))
    outcomes: list[str] = []

    def send(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(workers[i % len(workers)].decide(requests[i]).decision.decision_id)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_orphan_pii_row_never_attaches_to_a_later_decision(live: Any, body: dict[str, Any]) -> None:
    """A PII row left by a crash before the append must not become the decision's PII."""
    svc = live.app.state.services
    svc.pii.put(body["application_id"], _variant(body, 1)["applicant"])  # the crash's leftover
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 201, response.text
    assert svc.pii.get(body["application_id"]) == body["applicant"]
    assert_no_orphans(svc)


def test_two_workers_racing_twenty_bodies_store_one_consistent_decision(
    live: Any, body: dict[str, Any]
) -> None:
    """Two services (own engines, own locks: two workers) race 20 different bodies per id."""
    svc = live.app.state.services
    workers = [DecisionService(svc), DecisionService(svc)]
    for round_no in range(5):
        app_id = 70_000 + round_no
        requests = [
            DecisionRequest.model_validate_json(json.dumps(_variant(body, i) | {"application_id": app_id}))
            for i in range(20)
        ]
        outcomes = race(workers, requests)
        assert len(outcomes) == 20 and outcomes.count("conflict") == 19
    assert_no_orphans(svc)


def test_failed_append_leaves_no_pii(
    live: Any, body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal write that fails (disk full, I/O error) takes the PII down with it."""
    svc = live.app.state.services

    def full_disk(*_a: Any, **_k: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr("ledger.journal.DecisionJournal._insert", full_disk)
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert svc.pii.get(body["application_id"]) is None
    monkeypatch.undo()
    again = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert again.status_code == 201
    assert_no_orphans(svc)


def test_group_commit_shares_commits_and_keeps_one_chain(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    from ledger.storage import migrate

    migrate(engine)
    group = GroupCommit(DecisionJournal(engine), max_batch=16)
    barrier = threading.Barrier(32)

    def send(i: int) -> None:
        barrier.wait()
        group.append(f"d{i}", f"a{i % 24}", {"i": i})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = DecisionJournal(engine)
    assert reader.verify() == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar() == 24
    assert group.commits < 32  # some appends shared a commit
