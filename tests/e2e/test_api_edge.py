"""The decision API's edge over real HTTP: a ``creditdesk serve`` process on a free port."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.schemas import DecisionRequest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PII = {
    "full_name": "Quentin Uniquename",
    "national_id": "QX98765432",
    "phone": "+44 7700 900123",
    "address": "99 Nowhere Lane, Testtown",
}


def application(application_id: int = 424242) -> dict[str, Any]:
    extra: Any = DecisionRequest.model_config["json_schema_extra"]
    body: dict[str, Any] = copy.deepcopy(extra["examples"][0])
    body["application_id"] = application_id
    body["applicant"] = dict(PII)
    return body


@pytest.fixture(scope="module")
def api(start_api: Any) -> Any:
    return start_api(
        CREDITDESK_MAX_BODY_BYTES="65536",
        CREDITDESK_RATE_LIMIT_PER_MINUTE="60",
        CREDITDESK_RATE_LIMIT_BURST="20",
    )


@pytest.fixture
def client(api: Any) -> Iterator[httpx.Client]:
    with api.client() as c:
        yield c


def test_live_ready_and_metrics(api: Any, client: httpx.Client) -> None:
    assert client.get("/health/live").json()["status"] == "live"
    ready = client.get("/health/ready")
    if ready.status_code == 503:  # no champion registered in this fresh var/
        assert ready.json()["reasons"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "creditdesk_http_request_duration_seconds" in metrics.text


def test_auth_401_and_role_403(api: Any, client: httpx.Client) -> None:
    assert client.post("/v1/decisions", json=application()).status_code == 401
    wrong = client.post("/v1/decisions", json=application(), headers=api.auth("operations"))
    assert wrong.status_code == 403
    assert wrong.json()["errors"][0]["field"] == "Authorization"


def test_cli_key_works_at_once_and_is_the_last_stdout_line(api: Any, client: httpx.Client) -> None:
    token = api.new_key("admin")
    assert token.startswith("cdk_")
    admin = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/admin/keys", json={"role": "analyst"}, headers=admin)
    assert response.status_code == 201


def test_422_names_field_and_rule_without_echoing_input(api: Any, client: httpx.Client) -> None:
    body = application()
    body["kyc"]["employment"] = "astronaut"
    body["applicant"]["national_id"] = "!!" + PII["national_id"]
    response = client.post("/v1/decisions", json=body, headers=api.auth("onboarding"))
    assert response.status_code == 422
    fields = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert ("kyc.employment", "literal_error") in fields
    assert ("applicant.national_id", "string_pattern_mismatch") in fields
    assert PII["national_id"] not in response.text


def test_413_for_declared_and_for_chunked_bodies(api: Any, client: httpx.Client) -> None:
    auth = api.auth("onboarding")
    big = client.post("/v1/decisions", content=b"{" + b" " * 70_000 + b"}", headers=auth)
    assert big.status_code == 413 and big.json()["errors"][0]["rule"] == "max_body_bytes"

    def stream() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    with api.client() as fresh:  # the server closes the connection after a 413
        chunked = fresh.post("/v1/decisions", content=stream(), headers=auth)
    assert chunked.status_code == 413


def test_429_with_retry_after(api: Any, client: httpx.Client) -> None:
    auth = api.auth("onboarding", fresh=True)
    codes = [client.post("/v1/decisions", json=application(), headers=auth).status_code for _ in range(25)]
    assert 429 in codes and codes.index(429) >= 19
    limited = client.post("/v1/decisions", json=application(), headers=auth)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_logs_are_json_with_request_ids_and_no_pii(api: Any, client: httpx.Client) -> None:
    auth = api.auth("onboarding")
    sent = client.post("/v1/decisions", json=application(777), headers=auth | {"X-Request-Id": "e2e-trace-1"})
    assert sent.headers["x-request-id"] == "e2e-trace-1"
    # The access line is written as the response leaves: poll the server's log briefly.
    deadline = time.monotonic() + 15.0
    while True:
        text = api.logs()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        seen = any(
            line["request_id"] == "e2e-trace-1" and line.get("route") == "/v1/decisions" for line in lines
        )
        if seen or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert lines and all("request_id" in line for line in lines)
    assert seen
    for value in PII.values():
        assert value not in text
