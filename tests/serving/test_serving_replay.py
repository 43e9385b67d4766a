"""Exact replay after a promotion: the recorded models and policy, not the loaded ones.

Issue 16: replay worked only while the same versions were loaded; after a promotion an
old decision could no longer be recomputed (422). Here two real champions (trained,
registered and loaded like production ones, on different rows) stand for registry versions
1 and 8 (``Runtime.version_loader`` is the registry's seam: versions in, champion set out);
the policy changes too. The old decision is replayed bit for bit with version 1 and the old
policy while version 8 and the new policy serve.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pricing.policy import load_policy, policy_from_mapping
from serving.runtime import Loaded

pytestmark = pytest.mark.slow


def test_decide_promote_then_replay_the_old_decision_bit_for_bit(
    live: Any, body: dict[str, Any], champions: Any, newer_champions: Any
) -> None:
    runtime = live.app.state.services.runtime
    newer = copy.copy(newer_champions)  # the session's champion keeps its own versions
    newer.versions = {**champions.versions, "pd": "8"}
    registry = {champions.versions["pd"]: champions, "8": newer}

    def version_loader(versions: dict[str, str]) -> Any:
        if versions["pd"] not in registry:
            raise LookupError(f"creditdesk-pd version {versions['pd']} does not exist")
        return registry[versions["pd"]]

    runtime.version_loader = version_loader
    old = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert old.status_code == 201
    decision_id = old.json()["decision_id"]

    current = runtime.current
    policy = policy_from_mapping({**load_policy().model_dump(mode="json"), "version": "2026.9.9"})
    assert policy.policy_hash != current.policy.policy_hash
    versions = {**newer.versions, "policy": policy.version, "policy_hash": policy.policy_hash}
    versions["instruments"] = current.versions.get("instruments", "")
    versions = {k: v for k, v in versions.items() if k in current.versions}
    runtime._loader = lambda: Loaded(newer, policy, versions, current.instruments)
    # a policy change needs a second key's approval (maker-checker)
    request = {"kind": "policy_change", "subject": {"policy_hash": policy.policy_hash}, "reason": "new rates"}
    made = live.client.post("/v1/approvals", json=request, headers=live.key("operations")).json()
    approve = f"/v1/approvals/{made['approval_id']}/approve"
    checked = live.client.post(approve, json={}, headers=live.key("admin"))
    assert checked.status_code == 200, checked.text
    runtime.load()  # the promotion: version 8 and a new policy serve from now on

    body2 = {**body, "application_id": body["application_id"] + 1}
    fresh = live.client.post("/v1/decisions", json=body2, headers=live.key("onboarding")).json()
    assert fresh["model_versions"]["pd"] == "8" and fresh["pd_12m"] != old.json()["pd_12m"]

    analyst = live.key("analyst")
    replayed = live.client.get(f"/v1/decisions/{decision_id}?replay=true", headers=analyst)
    assert replayed.status_code == 200, replayed.text
    result = replayed.json()
    assert result["same_numbers"] is True and result["replay"]["features_match"] is True
    assert result["replay"]["bundle"] == "registry"
    fields = result["replay"]["fields"]
    assert {"pd_12m", "grade", "annual_rate", "credit_limit_minor", "reasons"} <= set(fields)
    for name, field in fields.items():
        stored, again = field["stored"], field["replayed"]
        assert field["equal"] and json.dumps(stored, sort_keys=True) == json.dumps(again, sort_keys=True), (
            name
        )
        if isinstance(stored, float):
            assert stored.hex() == again.hex(), name  # bit for bit, not approximately
    assert result["replay"]["policy_version"] == result["stored"]["record"]["policy_version"] != "2026.9.9"

    # the registry lost the old version: replay says so instead of answering with other models
    del registry[champions.versions["pd"]]
    live.app.state.decision_service.replayer._cache.clear()
    gone = live.client.get(f"/v1/decisions/{decision_id}?replay=true", headers=analyst)
    assert gone.status_code == 410, gone.text
    assert gone.json()["errors"][0]["rule"] == "models_deleted"
