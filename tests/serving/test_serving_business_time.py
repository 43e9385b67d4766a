"""Time is an input over HTTP (issue 13): an ``at`` field on operations and prices."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_operation_at_a_business_time_and_before_opening_refused(live: Any, body: dict[str, Any]) -> None:
    body["bureau"]["bureau_score"] = 845
    decision = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding")).json()
    assert decision["outcome"] == "approve", decision
    ops = live.key("operations")
    opened = live.client.post("/v1/accounts", json={"decision_id": decision["decision_id"]}, headers=ops)
    assert opened.status_code == 201, opened.text
    customer = opened.json()["customer_id"]

    def op(**fields: Any) -> Any:
        return live.client.post(f"/v1/accounts/{customer}/operations", json=fields, headers=ops)

    early = op(op_id="d0", kind="deposit", amount_minor=100, at="2020-01-02")
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "at"
    assert "before the facility opened" in early.text
    assert (
        live.client.get(f"/v1/accounts/{customer}", headers=ops).json()["cash_minor"] == 0
    )  # nothing written
    bad = op(op_id="d1", kind="deposit", amount_minor=100, at="tomorrow")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"
    later = op(op_id="d2", kind="deposit", amount_minor=100, at="2026-12-01T10:00:00+08:00")
    assert later.status_code == 200, later.text


def test_opening_in_another_currency_than_the_decisions_policy_is_refused(
    live: Any, body: dict[str, Any]
) -> None:
    """Issue 13: the decision was priced under the cn policy (CNY fen): no USD facility."""
    body["bureau"]["bureau_score"] = 845
    decision = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding")).json()
    assert decision["outcome"] == "approve", decision  # journalled with its policy: cn, CNY
    ops = live.key("operations")
    wrong = live.client.post(
        "/v1/accounts", json={"decision_id": decision["decision_id"], "currency": "USD"}, headers=ops
    )
    assert wrong.status_code == 422, wrong.text
    error = wrong.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("currency", "currency_mismatch")
    customer = body["customer_id"]
    assert live.client.get(f"/v1/accounts/{customer}", headers=ops).status_code == 404  # nothing written
    right = live.client.post("/v1/accounts", json={"decision_id": decision["decision_id"]}, headers=ops)
    assert right.status_code == 201 and right.json()["regime"] == "cn", right.text


def test_opening_and_instrument_registration_take_a_business_time(live: Any, body: dict[str, Any]) -> None:
    """Issue 13: ``at`` on ``POST /v1/accounts`` and ``PUT /v1/instruments/{id}`` too, so a
    scenario replays from its own first day; an operation before that opening is refused."""
    from creditdesk.business_time import parse_at

    body["bureau"]["bureau_score"] = 845
    decision = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding")).json()
    ops = live.key("operations")
    opened_at, listed_at = "2024-03-04T09:30:00+08:00", "2024-03-01"
    put = live.client.put(
        "/v1/instruments/7",
        json={"symbol": "AAA", "kind": "share", "price_minor": 1_000, "at": listed_at},
        headers=ops,
    )
    assert put.status_code == 200 and put.json()["price_as_of_ns"] == parse_at(listed_at, 0), put.text
    bad = live.client.put(
        "/v1/instruments/7",
        json={"symbol": "AAA", "kind": "share", "price_minor": 1, "at": "soon"},
        headers=ops,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"
    opened = live.client.post(
        "/v1/accounts", json={"decision_id": decision["decision_id"], "at": opened_at}, headers=ops
    )
    assert opened.status_code == 201 and opened.json()["opened_at_ns"] == parse_at(opened_at, 0), opened.text
    customer = opened.json()["customer_id"]
    path = f"/v1/accounts/{customer}/operations"
    early = live.client.post(
        path, json={"op_id": "e", "kind": "deposit", "amount_minor": 1, "at": "2024-03-01"}, headers=ops
    )
    assert early.status_code == 422 and "before the facility opened" in early.text
    ok = live.client.post(
        path, json={"op_id": "o", "kind": "deposit", "amount_minor": 1, "at": "2024-03-05"}, headers=ops
    )
    assert ok.status_code == 200, ok.text
    # raw transfers carry the business time too (CLI: ledger transfer/batch --at)
    from sqlalchemy import text

    from margin.chart import Code, currency_ledger, customer_account, platform_account

    cny = currency_ledger("CNY")
    move = {
        "id": 990_001,
        "debit_account_id": platform_account(Code.FUNDING, cny),
        "credit_account_id": customer_account(customer, Code.CUSTOMER_CASH),
        "amount_minor": 5,
        "ledger": cny,
        "code": 1,
    }
    at = "2024-03-06T10:00:00+08:00"
    posted = live.client.post("/v1/transfers", json={"transfers": [move], "at": at}, headers=ops)
    assert posted.status_code == 201, posted.text
    with live.app.state.services.engine.connect() as conn:
        stamp = conn.execute(text("SELECT timestamp_ns FROM ledger_transfers WHERE id = 990001")).scalar_one()
    assert parse_at(at, 0) <= stamp < parse_at(at, 0) + 10**9
