"""The HTTP edge under failure: a 500 names its real request id, storage errors are 503."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def test_a_500_carries_the_request_id_of_its_request(make_harness: Any) -> None:
    h = make_harness()

    @h.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    response = h.client.get("/boom", headers={"x-request-id": "trace-42"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "trace-42" == response.headers["x-request-id"]
    fresh = h.client.get("/boom")
    assert fresh.json()["request_id"] == fresh.headers["x-request-id"] != "-"
    assert "RuntimeError" not in fresh.text


def test_database_errors_answer_503_with_retry_after(make_harness: Any) -> None:
    h = make_harness()

    @h.app.get("/disk")
    def disk() -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    response = h.client.get("/disk")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert response.json()["errors"][0]["rule"] == "database_unavailable"
    assert "INSERT" not in response.text


def test_openapi_documents_every_status_a_route_can_answer(make_harness: Any) -> None:
    schema = make_harness().client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            if path.startswith("/v1/"):
                assert {"413", "500", "503"} <= set(op["responses"]), (method, path)


def test_an_emptied_shared_bucket_answers_429_whatever_the_load(make_harness: Any) -> None:
    import time

    from serving.db import rate_buckets

    h = make_harness()
    flood = h.key("analyst")
    key_id = flood["Authorization"].split("_")[1]
    with h.app.state.services.engine.begin() as conn:
        conn.execute(rate_buckets.insert().values(key_id=key_id, tokens=0.0, updated_at=time.time() + 600))
    limited = h.client.get("/v1/decisions/" + "a" * 32, headers=flood)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert h.client.get("/v1/decisions/" + "a" * 32, headers=h.key("analyst")).status_code == 404
