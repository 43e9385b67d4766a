"""Ledger and margin over HTTP, and decisions that read trading behaviour from the ledger.

The app is the production one on a private SQLite database; the champion is the small
real booster of conftest. Golden values are worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest

from serving.activity import Activity, from_ledger

pytestmark = pytest.mark.slow

CUSTOMER = 5001


def _strong(body: dict[str, Any]) -> dict[str, Any]:
    """The example applicant made safe enough for the toy champion to approve."""
    body["bureau"]["bureau_score"] = 845
    return body


def _approved(live: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = live.client.post("/v1/decisions", json=_strong(body), headers=live.key("onboarding"))
    assert response.status_code == 201, response.text
    decision: dict[str, Any] = response.json()
    assert decision["outcome"] == "approve" and decision["credit_limit_minor"] > 0, decision
    return decision


def test_books_routes_need_the_operations_role(live: Any) -> None:
    assert live.client.get(f"/v1/accounts/{CUSTOMER}").status_code == 401
    denied = live.client.get(f"/v1/accounts/{CUSTOMER}", headers=live.key("onboarding"))
    assert denied.status_code == 403 and denied.json()["errors"][0]["rule"] == "role_not_allowed"
    ops = live.key("operations")
    missing = live.client.get("/v1/accounts/999", headers=ops)
    assert missing.status_code == 404 and missing.json()["errors"][0]["rule"] == "no_facility"
    unknown = live.client.post("/v1/accounts", json={"decision_id": "0" * 32}, headers=ops)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "decision_id"
    bad = live.client.post(
        f"/v1/accounts/{CUSTOMER}/operations", json={"op_id": "x", "kind": "buy"}, headers=ops
    )
    assert bad.status_code == 422 and "instrument_id" in bad.text


def test_facility_trades_margin_and_ledger_trades_feed_the_next_decision(
    live: Any, body: dict[str, Any]
) -> None:
    ops, analyst = live.key("operations"), live.key("analyst")
    put = live.client.put(
        "/v1/instruments/1",
        json={"symbol": "AAPL", "kind": "index_constituent", "price_minor": 17_250, "adv_shares": 50_000_000},
        headers=ops,
    )
    assert put.status_code == 200 and put.json()["conversion_rate_bps"] == 7_000  # index shares: 70 %
    clash = live.client.put(
        "/v1/instruments/2", json={"symbol": "AAPL", "kind": "share", "price_minor": 1}, headers=ops
    )
    assert clash.status_code == 409

    first = _approved(live, body)
    stored = live.client.get(f"/v1/decisions/{first['decision_id']}", headers=analyst).json()["stored"]
    assert stored["trades_source"] == "request" and "ledger_activity" not in stored

    opened = live.client.post("/v1/accounts", json={"decision_id": first["decision_id"]}, headers=ops)
    assert opened.status_code == 201, opened.text
    account = opened.json()
    assert account["line_minor"] == first["credit_limit_minor"] == account["line_available_minor"]
    assert account["annual_rate_bps"] == max(1, round(first["annual_rate"] * 10_000))
    assert account["max_leverage_bps"] == round(
        (1 + first["max_leverage"]) * 10_000
    )  # gross = 1 + loan/equity
    again = live.client.post("/v1/accounts", json={"decision_id": first["decision_id"]}, headers=ops)
    assert again.status_code == 200 and again.json()["opened_at_ns"] == account["opened_at_ns"]

    def op(payload: dict[str, Any]) -> Any:
        return live.client.post(f"/v1/accounts/{CUSTOMER}/operations", json=payload, headers=ops)

    assert op({"op_id": "dep-1", "kind": "deposit", "amount_minor": 1_100_000}).status_code == 200
    buy = {"op_id": "buy-1", "kind": "buy", "instrument_id": 1, "quantity": 90, "price_minor": 17_250}
    bought = op({**buy, "fee_minor": 500})
    assert bought.status_code == 200 and bought.json()["ok"], bought.text
    # 90 × 17,250 + 500 fee = 1,553,000 against 1,100,000 cash: 453,000 drawn on the line; the cn
    # initial rule holds: 0 + 0.7 × (1,552,500 − 453,000) − 1.0 × 453,000 = 316,650 ≥ 0, and the
    # leverage 1,552,500 / (1,552,500 − 453,000) = 1.41 is within the decision's
    assert bought.json()["details"]["loan_draw_minor"] == 453_000
    assert op({**buy, "fee_minor": 500}).json()["details"] == {"replayed": True}  # a retry moves nothing
    changed = op({**buy, "quantity": 91, "fee_minor": 500})
    assert changed.status_code == 409 and changed.json()["errors"][0]["rule"] == "exists_with_different_body"
    sold = op({"op_id": "sell-1", "kind": "sell", "instrument_id": 1, "quantity": 10, "price_minor": 18_825})
    assert sold.status_code == 200 and sold.json()["details"]["loan_repaid_minor"] == 188_250  # 10 × 18,825

    view = live.client.get(f"/v1/accounts/{CUSTOMER}", headers=ops).json()
    assert view["cash_minor"] == 0 and view["loan_minor"] == 453_000 - 188_250 == 264_750
    assert view["positions"] == {"1": 80} and view["line_available_minor"] == view["line_minor"] - 264_750
    margin = live.client.get(f"/v1/accounts/{CUSTOMER}/margin", headers=ops).json()
    # cn maintenance ratio = (cash + market value) / debt = 80 × 17,250 / 264,750
    assert margin["market_value_minor"] == 1_380_000
    assert margin["ratio"] == pytest.approx(1_380_000 / 264_750) and margin["status"] == "ok"

    def mark(price_minor: int) -> Any:
        prices = {"prices": [{"instrument_id": 1, "price_minor": price_minor}]}
        response = live.client.post("/v1/prices", json=prices, headers=ops)
        assert response.status_code == 200, response.text
        return response.json()

    crash = mark(4_000)  # 320,000 / 264,750 = 1.209: below the 130 % call line, above the 110 % floor
    assert crash["statuses"] == {str(CUSTOMER): "call"} and crash["calls_issued"] == [CUSTOMER]
    assert live.client.get(f"/v1/accounts/{CUSTOMER}/margin", headers=ops).json()["topup_minor"] > 0
    recovered = mark(17_250)  # back to 5.21 ≥ the 150 % target: the call is met
    assert recovered["calls_met"] == [CUSTOMER] and recovered["calls_issued"] == []
    unknown = live.client.post(
        "/v1/prices", json={"prices": [{"instrument_id": 77, "price_minor": 1}]}, headers=ops
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "instrument_id"

    # The ledger now holds the customer's trades: they, not the request's, drive the features.
    svc = live.app.state.services
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    held = from_ledger(svc.engine, CUSTOMER, tomorrow, 5_000)
    assert held is not None and held.source == "ledger"
    assert held.trades["side"] == ["buy", "sell"] and held.trades["ticker"] == ["AAPL", "AAPL"]
    np.testing.assert_array_equal(held.trades["quantity"], [90, 10])
    np.testing.assert_array_equal(held.trades["price"], [172.50, 188.25])  # minor units / share / 100
    np.testing.assert_array_equal(held.trades["fees_minor"], [500, 0])
    assert held.cash_flows["kind"] == ["deposit"] and held.cash_flows["amount_minor"].tolist() == [1_100_000]
    assert from_ledger(svc.engine, CUSTOMER, dt.date.today() - dt.timedelta(days=1), 5_000) is None
    assert from_ledger(svc.engine, CUSTOMER + 1, tomorrow, 5_000) is None
    newest = from_ledger(svc.engine, CUSTOMER, tomorrow, 1)
    assert newest is not None and newest.trades["side"] == ["sell"]
    assert Activity.from_json(json.loads(json.dumps(held.to_json()))).to_json() == held.to_json()

    second = json.loads(json.dumps(body))
    second.update(application_id=body["application_id"] + 1, application_date=tomorrow.isoformat())
    decided = live.client.post("/v1/decisions", json=second, headers=live.key("onboarding"))
    assert decided.status_code == 201, decided.text
    got = live.client.get(
        f"/v1/decisions/{decided.json()['decision_id']}?replay=true", headers=analyst
    ).json()
    assert got["stored"]["trades_source"] == "ledger"
    assert got["stored"]["ledger_activity"] == held.to_json()
    assert got["same_numbers"] is True and got["replay"]["features_match"] is True


def test_raw_transfers_are_idempotent_on_id(live: Any, body: dict[str, Any]) -> None:
    from margin.chart import Code, customer_account, platform_account

    ops = live.key("operations")
    decision = _approved(live, body)
    assert (
        live.client.post(
            "/v1/accounts", json={"decision_id": decision["decision_id"]}, headers=ops
        ).status_code
        == 201
    )
    cash = customer_account(CUSTOMER, Code.CUSTOMER_CASH)
    funding = platform_account(Code.FUNDING, 156)
    transfer = {
        "id": 77,
        "debit_account_id": funding,
        "credit_account_id": cash,
        "amount_minor": 2_500,
        "ledger": 156,
        "code": 1,
    }
    first = live.client.post("/v1/transfers", json={"transfers": [transfer]}, headers=ops)
    assert first.status_code == 201 and first.json() == {"results": [{"id": 77, "result": "ok"}]}
    again = live.client.post("/v1/transfers", json={"transfers": [transfer]}, headers=ops)
    assert again.status_code == 200 and again.json()["results"][0]["result"] == "exists"
    other = live.client.post(
        "/v1/transfers", json={"transfers": [{**transfer, "amount_minor": 2_501}]}, headers=ops
    )
    assert other.status_code == 409
    assert other.json()["errors"][0] == {
        "field": "transfers.0",
        "rule": "exists_with_different_body",
        "message": "transfer 77 refused: exists_with_different_body (0 other transfer(s) applied)",
    }
    overdraft = {
        **transfer,
        "id": 78,
        "debit_account_id": cash,
        "credit_account_id": funding,
        "amount_minor": 10**9,
    }
    refused = live.client.post("/v1/transfers", json={"transfers": [overdraft]}, headers=ops)
    assert refused.status_code == 422 and refused.json()["errors"][0]["rule"] == "exceeds_credits"
    assert live.client.get(f"/v1/accounts/{CUSTOMER}", headers=ops).json()["cash_minor"] == 2_500
