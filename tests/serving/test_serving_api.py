"""The HTTP edge in process: auth, roles, error shapes, limits, logs, metrics, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from features import catalogue

PII_FIELDS = ("full_name", "national_id", "phone", "address")


def _error(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = response.json()
    assert payload["status"] == response.status_code
    assert payload["request_id"] == response.headers["x-request-id"]
    assert payload["errors"], "an error body must name at least one field and rule"
    for item in payload["errors"]:
        assert item["field"] and item["rule"] and item["message"]
    return payload


def test_live_and_not_ready_without_models(make_harness: Any) -> None:
    h = make_harness()
    live = h.client.get("/health/live")
    assert live.status_code == 200 and live.json()["status"] == "live"
    ready = h.client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready" and ready.json()["reasons"]
    assert ready.headers["retry-after"] == "5"


def test_no_key_401_bad_key_401_wrong_role_403(make_harness: Any, body: dict[str, Any]) -> None:
    h = make_harness()
    missing = h.client.post("/v1/decisions", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert _error(missing)["errors"][0] == {
        "field": "Authorization",
        "rule": "bearer_key_required",
        "message": "send 'Authorization: Bearer <API key>'",
    }
    forged = h.client.post(
        "/v1/decisions", json=body, headers={"Authorization": "Bearer cdk_" + "0" * 12 + "_x"}
    )
    assert forged.status_code == 401 and _error(forged)["errors"][0]["rule"] == "unknown_or_revoked_key"
    basic = h.client.post("/v1/decisions", json=body, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    wrong = h.client.post("/v1/decisions", json=body, headers=h.key("analyst"))
    assert wrong.status_code == 403
    assert _error(wrong)["errors"][0]["rule"] == "role_not_allowed"
    assert "onboarding" in wrong.json()["errors"][0]["message"]
    not_admin = h.client.post("/v1/admin/reload", headers=h.key("onboarding"))
    assert not_admin.status_code == 403


def test_valid_application_without_models_is_503_not_500(make_harness: Any, body: dict[str, Any]) -> None:
    h = make_harness()
    response = h.client.post("/v1/decisions", json=body, headers=h.key("onboarding"))
    assert response.status_code == 503
    assert _error(response)["errors"][0]["field"] == "models"


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda b: b.update(surprise=1), "surprise", "extra_forbidden"),
        (
            lambda b: b["kyc"].update(age=int(catalogue.get("age_years").high) + 1),
            "kyc.age",
            "less_than_equal",
        ),
        (lambda b: b["kyc"].update(age=-1), "kyc.age", "greater_than_equal"),
        (lambda b: b["kyc"].update(age="41"), "kyc.age", "int_type"),  # strict: no string numbers
        (lambda b: b["kyc"].update(identity_verified=1), "kyc.identity_verified", "bool_type"),
        (lambda b: b["kyc"].update(employment="astronaut"), "kyc.employment", "literal_error"),
        (lambda b: b["bureau"].update(bureau_score=900), "bureau.bureau_score", "less_than_equal"),
        (
            lambda b: b["bureau"].update(credit_utilisation=1.6),
            "bureau.credit_utilisation",
            "less_than_equal",
        ),
        (lambda b: b.pop("bureau"), "bureau", "missing"),
        (lambda b: b.update(requested_line_minor=0), "requested_line_minor", "greater_than"),
        (lambda b: b.update(application_id=2**63), "application_id", "less_than_equal"),
        (lambda b: b["trades"][0].update(side="short"), "trades.0.side", "literal_error"),
        (lambda b: b["trades"][1].update(timestamp="2024-03-04T00:00:00"), "body", "value_error"),
        (lambda b: b["applicant"].update(phone="call me"), "applicant.phone", "string_pattern_mismatch"),
        (lambda b: b.update(trades=[b["trades"][0]] * 5001), "trades", "too_long"),
    ],
)
def test_bad_bodies_are_422_naming_field_and_rule(
    make_harness: Any, body: dict[str, Any], mutate: Any, field: str, rule: str
) -> None:
    h = make_harness()
    mutate(body)
    response = h.client.post("/v1/decisions", json=body, headers=h.key("onboarding"))
    assert response.status_code == 422
    errors = _error(response)["errors"]
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in errors]


def test_future_trade_error_names_the_offending_trade(make_harness: Any, body: dict[str, Any]) -> None:
    h = make_harness()
    body["trades"][1]["timestamp"] = "2024-03-04T09:30:00"
    response = h.client.post("/v1/decisions", json=body, headers=h.key("onboarding"))
    assert response.status_code == 422
    assert (
        "trades[1].timestamp must be strictly before application_date"
        in response.json()["errors"][0]["message"]
    )


def test_malformed_json_and_wrong_content_are_422_not_500(make_harness: Any) -> None:
    h = make_harness()
    auth = h.key("onboarding")
    bad_json = h.client.post(
        "/v1/decisions", content=b'{"application_id": ', headers=auth | {"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and _error(bad_json)["errors"][0]["rule"] == "json_invalid"
    array = h.client.post("/v1/decisions", json=[1, 2], headers=auth)
    assert array.status_code == 422
    assert h.client.get("/v1/nowhere").status_code == 404
    assert h.client.get("/v1/decisions", headers=auth).status_code == 405


def test_validation_errors_never_echo_the_submitted_pii(make_harness: Any, body: dict[str, Any]) -> None:
    h = make_harness()
    body["applicant"]["national_id"] = "ZZ-SECRET-NATIONAL-ID-000000000000000"  # too long: 422
    body["applicant"]["full_name"] = "Zebedee Secretname"
    response = h.client.post("/v1/decisions", json=body, headers=h.key("onboarding"))
    assert response.status_code == 422
    assert "ZZ-SECRET" not in response.text and "Secretname" not in response.text
    assert "input" not in response.json()["errors"][0]


def test_body_over_limit_is_413_by_header_and_while_streaming(make_harness: Any) -> None:
    h = make_harness(CREDITDESK_MAX_BODY_BYTES="1000")
    auth = h.key("onboarding")
    declared = h.client.post("/v1/decisions", content=b"x" * 1001, headers=auth)
    assert declared.status_code == 413
    assert _error(declared)["errors"][0] == {
        "field": "body",
        "rule": "max_body_bytes",
        "message": "request body must be at most 1000 bytes",
    }

    def chunks():  # no Content-Length: chunked transfer, so only counting can catch it
        for _ in range(20):
            yield b"y" * 100

    streamed = h.client.post("/v1/decisions", content=chunks(), headers=auth)
    assert streamed.status_code == 413
    lying = h.client.post(
        "/v1/decisions", content=chunks(), headers=auth | {"content-length": "10"}
    )  # a header that under-states the body must not get it past the limit
    assert lying.status_code in (400, 413)
    small = h.client.post("/v1/decisions", content=b"{}", headers=auth | {"content-type": "application/json"})
    assert small.status_code == 422  # under the limit: reaches validation


def test_rate_limit_429_with_retry_after_per_key(make_harness: Any, body: dict[str, Any]) -> None:
    h = make_harness(CREDITDESK_RATE_LIMIT_PER_MINUTE="6", CREDITDESK_RATE_LIMIT_BURST="2")
    first, second = h.key("onboarding"), h.key("onboarding")
    codes = [h.client.post("/v1/decisions", json=body, headers=first).status_code for _ in range(3)]
    assert codes == [503, 503, 429]
    limited = h.client.post("/v1/decisions", json=body, headers=first)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) == 10  # 6/min: one token per 10 s, rounded up
    assert _error(limited)["errors"][0]["rule"] == "rate_limit"
    assert h.client.post("/v1/decisions", json=body, headers=second).status_code == 503  # own bucket
    anonymous = [h.client.post("/v1/decisions", json=body).status_code for _ in range(5)]
    assert anonymous == [401] * 5  # unauthenticated calls never drain a key's bucket


def test_every_log_line_is_json_with_the_request_id_and_no_pii(
    make_harness: Any, body: dict[str, Any]
) -> None:
    h = make_harness()
    auth = h.key("onboarding")
    h.client.post("/v1/decisions", json=body, headers=auth | {"X-Request-Id": "trace-abc.123"})
    body["applicant"]["phone"] = "not a phone"
    bad = h.client.post("/v1/decisions", json=body, headers=auth)
    assert bad.status_code == 422
    lines = [json.loads(line) for line in h.log_lines()]
    requests = [line for line in lines if line["message"] == "request"]
    assert len(requests) == 2
    assert requests[0]["request_id"] == "trace-abc.123" and requests[0]["route"] == "/v1/decisions"
    assert requests[1]["request_id"] == bad.headers["x-request-id"] != "-"
    assert requests[0]["key_id"] in auth["Authorization"]
    text = h.logs.getvalue()
    for value in [*(body["applicant"][f] for f in PII_FIELDS if f != "phone"), "not a phone"]:
        assert value not in text


def test_invalid_incoming_request_id_is_replaced(make_harness: Any) -> None:
    h = make_harness()
    response = h.client.get("/health/live", headers={"X-Request-Id": "bad id with spaces;drop"})
    rid = response.headers["x-request-id"]
    assert rid != "bad id with spaces;drop" and len(rid) == 16


def test_metrics_expose_latency_by_route_and_readiness(make_harness: Any) -> None:
    h = make_harness()
    for _ in range(3):
        h.client.get("/health/live")
    text = h.client.get("/metrics").text
    assert (
        'creditdesk_http_request_duration_seconds_count{method="GET",route="/health/live",status="200"} 3.0'
        in text
    )
    assert "creditdesk_decisions_total" in text and "creditdesk_ready 0.0" in text
    h.app.state.services.metrics.set_versions({"pd": "3", "policy": "2026.1"})
    text = h.client.get("/metrics").text
    assert 'creditdesk_model_info{component="pd",version="3"} 1.0' in text


def test_admin_creates_and_revokes_keys_over_http(make_harness: Any) -> None:
    h = make_harness()
    admin = h.key("admin")
    created = h.client.post("/v1/admin/keys", json={"role": "analyst", "label": "risk"}, headers=admin)
    assert created.status_code == 201
    token = created.json()["token"]
    ok = h.client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 403  # the new key works (authenticated) but is an analyst
    gone = h.client.delete(f"/v1/admin/keys/{created.json()['key_id']}", headers=admin)
    assert gone.status_code == 204
    after = h.client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401
    assert h.client.delete(f"/v1/admin/keys/{created.json()['key_id']}", headers=admin).status_code == 404
    bad_role = h.client.post("/v1/admin/keys", json={"role": "root"}, headers=admin)
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"


def test_reload_without_champions_is_503_and_names_the_cause(make_harness: Any) -> None:
    h = make_harness()
    response = h.client.post("/v1/admin/reload", headers=h.key("admin"))
    assert response.status_code == 503
    assert _error(response)["errors"][0]["rule"] == "load_failed"


def test_openapi_has_an_example_for_every_request_body(make_harness: Any) -> None:
    h = make_harness()
    spec = h.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    bodies = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            bodies += 1
            ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[ref].get("examples"), f"{method.upper()} {path} body {ref} has no example"
            assert schemas[ref].get("additionalProperties") is False, f"{ref} must forbid extra fields"
    assert bodies >= 2
