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
    from margin.storage import migrate

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


KILL_SCRIPT = r"""
import json, sys, types
import numpy as np
from features.builders import InstrumentIndex
import pandas as pd
from models.master_scale import grade_of
from pricing.policy import load_policy
from serving.app import build_services
from serving.config import ServingSettings
from serving.decide import DecisionService
from serving.runtime import Loaded
from serving.schemas import DecisionRequest

class Flat:  # a constant champion: this test is about the writes, not the scores
    versions = {"pd": "1", "lgd": "fixed", "ead": "ccf-1"}
    def score(self, X):
        n = X.shape[0]
        pd_12m = np.full(n, 0.02)
        return types.SimpleNamespace(pd_12m=pd_12m, grade=grade_of(pd_12m), lgd=np.full(n, 0.4),
                                     ccf=np.ones(n), reasons=[[] for _ in range(n)])

policy = load_policy()
instruments = InstrumentIndex.from_frame(pd.DataFrame(
    {"ticker": ["AAPL"], "volatile": [False], "adv_shares": [5e7]}))
versions = {**Flat.versions, "policy": policy.version, "policy_hash": policy.policy_hash}
svc = build_services(ServingSettings(load_models_on_startup=False),
                     loader=lambda: Loaded(Flat(), policy, versions, instruments))
svc.runtime.load()
service = DecisionService(svc)
body = json.loads(sys.argv[1])
print("ready", flush=True)
i = 0
while True:  # different bodies under few ids: every write races the kill
    i += 1
    body["application_id"] = 90_000 + i // 3
    body["applicant"]["full_name"] = f"Killed {i}"
    try:
        service.decide(DecisionRequest.model_validate_json(json.dumps(body)))
    except Exception:
        pass
"""


def test_sigkill_mid_burst_leaves_no_orphan(live: Any, body: dict[str, Any], var_dir: Any) -> None:
    """A worker SIGKILLed while deciding leaves whole decisions or nothing (no orphan PII)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "CREDITDESK_VAR_DIR": str(var_dir)}
    for _round in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, json.dumps(body)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    svc = live.app.state.services
    with make_engine(svc.settings.database_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one() > 0
    assert_no_orphans(svc)
