"""The decision path end to end in process, with a real (small) LightGBM booster as champion.

The champion set is the tiny real one of conftest (trained by ``pipelines.training`` on
catalogue-shaped rows, promoted in a private MLflow registry, loaded as ``ChampionSet``).
Everything else is the production code: online features, pricing.decide, the journal, the
PII vault.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from features.catalogue import feature_names
from ledger.journal import DecisionJournal
from ledger.storage import make_engine

NAMES = feature_names()
pytestmark = pytest.mark.slow


def test_ready_after_load(live: Any) -> None:
    ready = live.client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["versions"]["pd"] == "1"
    assert 'creditdesk_model_info{component="pd",version="1"} 1.0' in live.client.get("/metrics").text


def test_decide_is_idempotent_replayable_journalled_and_pii_sealed(live: Any, body: dict[str, Any]) -> None:
    onboarding, analyst = live.key("onboarding"), live.key("analyst")
    first = live.client.post("/v1/decisions", json=body, headers=onboarding)
    assert first.status_code == 201, first.text
    decision = first.json()
    assert first.headers["x-decision-id"] == decision["decision_id"]
    assert decision["outcome"] in ("approve", "refer", "decline") and 1 <= decision["grade"] <= 11
    assert len(decision["reasons"]) <= 4 and decision["model_versions"]["pd"] == "1"
    # Whatever the outcome (both are pinned in test_serving_outcomes.py): a line iff not declined.
    assert (decision["credit_limit_minor"] > 0) == (decision["outcome"] != "decline")
    assert decision["credit_limit_minor"] <= body["requested_line_minor"]
    assert decision["expected_loss_minor"] == pytest.approx(
        decision["pd_12m"] * decision["lgd"] * decision["ead_minor"]
    )

    again = live.client.post("/v1/decisions", json=body, headers=onboarding)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == decision

    changed = json.loads(json.dumps(body))
    changed["requested_line_minor"] += 1
    conflict = live.client.post("/v1/decisions", json=changed, headers=onboarding)
    assert conflict.status_code == 409 and conflict.json()["errors"][0]["field"] == "application_id"

    stored = live.client.get(f"/v1/decisions/{decision['decision_id']}?replay=true", headers=analyst)
    assert stored.status_code == 200, stored.text
    payload = stored.json()
    assert payload["same_numbers"] is True and payload["replay"]["features_match"] is True
    assert "applicant" not in payload["stored"]["request"]
    assert len(payload["stored"]["features"]) == len(NAMES)
    assert body["applicant"]["national_id"] not in stored.text

    svc = live.app.state.services
    assert svc.pii.get(body["application_id"]) == body["applicant"]
    raw = b"".join(p.read_bytes() for p in live.var_dir.glob("ledger.db*"))
    assert body["applicant"]["national_id"].encode() not in raw
    assert body["applicant"]["full_name"].encode() not in raw
    assert DecisionJournal(make_engine(svc.settings.database_url)).verify() == []
    assert 'creditdesk_decisions_total{grade="' in live.client.get("/metrics").text
    assert body["applicant"]["full_name"] not in live.logs.getvalue()


def test_unknown_ticker_is_422_and_stores_nothing(live: Any, body: dict[str, Any]) -> None:
    body["trades"][0]["ticker"] = "NOPE"
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "trades.ticker"
    assert live.app.state.services.pii.get(body["application_id"]) is None


def test_batch_and_concurrent_twins_give_one_decision(live: Any, body: dict[str, Any]) -> None:
    auth = live.key("onboarding")
    apps = []
    for i in range(3):
        app = json.loads(json.dumps(body))
        app["application_id"] = 5000 + i
        apps.append(app)
    batch = live.client.post("/v1/decisions/batch", json={"applications": apps}, headers=auth)
    assert batch.status_code == 200
    assert [r["status"] for r in batch.json()["results"]] == [201, 201, 201]
    too_many = live.client.post("/v1/decisions/batch", json={"applications": [body] * 1001}, headers=auth)
    assert too_many.status_code in (413, 422)

    twin = json.loads(json.dumps(body))
    twin["application_id"] = 9191
    ids: list[str] = []

    def send() -> None:
        ids.append(live.client.post("/v1/decisions", json=twin, headers=auth).json()["decision_id"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
