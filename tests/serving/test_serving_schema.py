"""Schemathesis against our own OpenAPI schema: valid and invalid requests, never a 5xx.

Every operation of the schema gets a bounded number of generated cases, both conforming
(positive) and broken (negative: wrong types, missing fields, out-of-range values), sent
with a key of the role that operation needs, so generated bodies get past auth and reach
validation, the decision path and the books. The champion is the small real booster of
conftest, so decisions are really computed. Derandomised: the same cases every run.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, cast

import pytest

pytestmark = pytest.mark.slow

CASES_PER_OPERATION = 8
ROLES = ("onboarding", "analyst", "operations", "admin")


def _role(method: str, path: str) -> str | None:
    if not path.startswith("/v1/"):
        return None
    if path.startswith("/v1/admin"):
        return "admin"
    if path.startswith("/v1/decisions"):
        return "analyst" if method.upper() == "GET" else "onboarding"
    return "operations"


def test_generated_requests_never_get_a_server_error(live: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import schemathesis
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st
        from hypothesis.errors import Unsatisfiable
        from schemathesis import GenerationMode
        from schemathesis.checks import (
            content_type_conformance,
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
        )

    schema = schemathesis.openapi.from_asgi("/openapi.json", live.app)
    keys = {role: live.key(role) for role in ROLES}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    seen: dict[str, dict[int, int]] = {}

    def fuzz(operation: Any, mode: Any) -> None:
        role = _role(operation.method, operation.path)
        statuses = seen.setdefault(operation.label, {})

        @given(case=operation.as_strategy(generation_mode=mode), sender=st.sampled_from((role, *ROLES)))
        @settings(
            max_examples=CASES_PER_OPERATION * 2,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any, sender: str | None) -> None:
            # the operation's own role half the time (to reach the handler), else any role
            # (every role's key: 403s and whatever else a wrong role can reach)
            response = case.call(headers=dict(keys[sender]) if sender else None)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=checks)

        started = time.perf_counter()
        run()
        timings[f"{operation.label} {mode.value}"] = time.perf_counter() - started

    timings: dict[str, float] = {}
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE)
        try:
            fuzz(operation, GenerationMode.NEGATIVE)
        except Unsatisfiable:  # nothing to break (no parameters, no body)
            continue
    print(sorted(timings.items(), key=lambda kv: -kv[1])[:8])
    assert all(code < 500 for codes in seen.values() for code in codes), seen
    # the generated traffic got past validation somewhere (not only 4xx everywhere) ...
    assert any(
        code in (200, 201) for label, codes in seen.items() if "decisions" in label for code in codes
    ), seen
    # ... and broken requests were refused as such
    assert any(code == 422 for codes in seen.values() for code in codes), seen


def test_timestamps_with_an_offset_are_refused_not_a_500(live: Any, body: dict[str, Any]) -> None:
    """Found by the fuzzing above: an aware timestamp compared with the naive cutoff crashed."""
    body["trades"][0]["timestamp"] = "2023-11-02T10:15:00+01:00"
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "trades.0.timestamp",
        "rule": "timezone_naive",
        "message": "Input should not have timezone info",
    }
