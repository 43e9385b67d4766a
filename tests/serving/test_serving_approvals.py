"""Maker-checker: critical operations need a second key, and every step is in the audit chain.

The brief of issue 16: manual forced liquidation, risk-parameter changes and the like need
multiple approvals and an operation audit. The maker cannot approve their own request; a
request is decided once; each request, approval, refusal and execution is an entry of the
hash-chained journal (so ``decisions verify`` covers it); an approved key rotation runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.journal import DecisionJournal
from ledger.storage import make_engine

pytestmark = pytest.mark.slow


def test_maker_cannot_check_and_every_step_is_audited(make_harness: Any) -> None:
    h = make_harness()
    maker, checker, analyst = h.key("operations"), h.key("admin"), h.key("analyst")
    body = {"kind": "forced_promotion", "subject": {"pd_version": 7}, "reason": "gate refused a fix"}
    assert h.client.post("/v1/approvals", json=body, headers=analyst).status_code == 403
    made = h.client.post("/v1/approvals", json=body, headers=maker)
    assert made.status_code == 201, made.text
    request_id = made.json()["approval_id"]
    assert made.json()["state"] == "pending"

    own = h.client.post(f"/v1/approvals/{request_id}/approve", json={}, headers=maker)
    assert own.status_code == 403 and own.json()["errors"][0]["rule"] == "maker_cannot_check"
    approved = h.client.post(f"/v1/approvals/{request_id}/approve", json={"note": "ok"}, headers=checker)
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    again = h.client.post(f"/v1/approvals/{request_id}/refuse", json={}, headers=h.key("admin"))
    assert again.status_code == 409

    refused = h.client.post("/v1/approvals", json={**body, "kind": "policy_change"}, headers=checker).json()
    no = h.client.post(f"/v1/approvals/{refused['approval_id']}/refuse", json={"note": "no"}, headers=maker)
    assert no.json()["state"] == "refused"

    journal = DecisionJournal(make_engine(h.app.state.services.settings.database_url))
    steps = [(journal.get_by_application(f"audit:{request_id}:{s}"), s) for s in ("requested", "approved")]
    assert all(entry is not None and entry.payload["audit"]["step"] == s for entry, s in steps)
    assert journal.get_by_application(f"audit:{refused['approval_id']}:refused") is not None
    assert journal.verify() == []
    audit_decision = steps[0][0]
    assert audit_decision is not None
    hidden = h.client.get(f"/v1/decisions/{audit_decision.decision_id}", headers=analyst)
    assert hidden.status_code == 404  # audit entries are not decisions


def test_an_approved_key_rotation_runs_and_its_result_is_audited(make_harness: Any) -> None:
    h = make_harness()
    svc = h.app.state.services
    svc.pii.put(123, {"full_name": "A", "national_id": "X1234", "phone": "+4412345678", "address": "B"})
    made = h.client.post(
        "/v1/approvals", json={"kind": "key_rotation", "reason": "quarterly"}, headers=h.key("admin")
    ).json()
    done = h.client.post(f"/v1/approvals/{made['approval_id']}/approve", json={}, headers=h.key("operations"))
    assert done.status_code == 200, done.text
    assert (
        done.json()["state"] == "executed" and done.json()["result"]["rotated"] == 0
    )  # already under the active key
    journal = DecisionJournal(make_engine(svc.settings.database_url))
    assert journal.get_by_application(f"audit:{made['approval_id']}:executed") is not None
