"""Input hardening of the decision API: each bad input issue 16 found is a 422 naming its field.

Before: a trade dated 1700-01-01 wrapped in datetime64[ns] and was decided (201, negative
days since last trade); dates accepted integers and unix-time strings; duplicate JSON keys
were decided on the last value; NUL characters were stored; a batch journalled items
before the failing one and then answered 422 for all of them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _post(live: Any, body: Any, raw: str | None = None) -> Any:
    headers = {**live.key("onboarding"), "content-type": "application/json"}
    content = raw if raw is not None else json.dumps(body)
    return live.client.post("/v1/decisions", content=content, headers=headers)


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("trades", 0, "timestamp"), "1700-01-01T10:00:00", "trades.0.timestamp"),
        (("application_date",), "0001-01-02", "application_date"),
        (("application_date",), "9999-12-31", "application_date"),
        (("application_date",), 1709510400, "application_date"),
        (("application_date",), "1709510400", "application_date"),
        (("kyc", "account_opened_date"), 20190612, "kyc.account_opened_date"),
        (("kyc", "account_opened_date"), "1899-12-31", "kyc.account_opened_date"),
        (("trades", 0, "timestamp"), 1698920100, "trades.0.timestamp"),
        (("trades", 0, "timestamp"), "2023-11-02T10:15:00+08:00", "trades.0.timestamp"),
        (("cash_flows", 0, "timestamp"), "2300-01-01T00:00:00", "cash_flows.0.timestamp"),
        (("applicant", "full_name"), "Ada\x00Example", "applicant.full_name"),
        (("applicant", "address"), "1 Example St\x00", "applicant.address"),
    ],
)
def test_bad_dates_and_text_are_422_naming_the_field(
    live: Any, body: dict[str, Any], path: tuple[Any, ...], value: Any, field: str
) -> None:
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    response = _post(live, body)
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert live.app.state.services.pii.get(body["application_id"]) is None


def test_trades_before_the_account_opened_are_refused(live: Any, body: dict[str, Any]) -> None:
    body["trades"][0]["timestamp"] = "2019-06-11T10:00:00"  # the account opened 2019-06-12
    response = _post(live, body)
    assert response.status_code == 422
    assert "before kyc.account_opened_date" in response.json()["errors"][0]["message"]


def test_a_duplicate_json_key_is_422_naming_the_key(live: Any, body: dict[str, Any]) -> None:
    raw = json.dumps(body).replace('"age": 41', '"age": 41, "age": 17')
    assert raw.count('"age"') == 2
    response = _post(live, None, raw)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "age" and error["rule"] == "duplicate_key"
    assert live.app.state.services.pii.get(body["application_id"]) is None
    assert _post(live, body).status_code == 201  # the same body without the repeat is fine


def test_batch_validates_every_item_before_writing_and_reports_each(live: Any, body: dict[str, Any]) -> None:
    items = []
    for i in range(3):
        item = copy.deepcopy(body)
        item["application_id"] = 8000 + i
        items.append(item)
    items[1]["trades"][0]["ticker"] = "NOPE"  # passes the schema, fails in the features
    response = live.client.post(
        "/v1/decisions/batch", json={"applications": items}, headers=live.key("onboarding")
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["errors"][0]["field"] == "trades.ticker"
    pii = live.app.state.services.pii
    assert pii.get(8001) is None and pii.get(8000) == body["applicant"] == pii.get(8002)
    again = live.client.post(
        "/v1/decisions/batch", json={"applications": items}, headers=live.key("onboarding")
    )
    assert [r["status"] for r in again.json()["results"]] == [200, 422, 200]


@pytest.mark.parametrize("customer_id", [90_000_000_000, 2**63 - 1])
def test_a_customer_id_the_ledger_cannot_hold_is_refused_before_deciding(
    live: Any, body: dict[str, Any], customer_id: int
) -> None:
    """Id ranges agree between the decision and the ledger: the margin id scheme holds customer
    ids 1 … 89,999,999,999 (margin.chart), so a decision for a larger id could never open a
    facility; it is a 422 naming customer_id, and nothing is journalled."""
    body["customer_id"] = customer_id
    response = _post(live, body)
    assert response.status_code == 422, response.text
    assert "customer_id" in _fields(response)
    assert live.app.state.services.pii.get(body["application_id"]) is None
    body["customer_id"] = 89_999_999_999  # the largest id the ledger holds is accepted
    assert _post(live, body).status_code == 201
