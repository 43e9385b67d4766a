"""The decision API and the books on PostgreSQL: same code, same answers as on SQLite.

Runs in a private schema of the local ``test`` database (dropped afterwards), so it never
meets another test's tables; skips with the reason when no server answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_url(pg_schema_url: str) -> Iterator[str]:
    """A private schema (``tests/conftest.py``); the app's pooled engines are closed before it is dropped."""
    from serving.db import dispose_engines

    yield pg_schema_url
    dispose_engines()


def test_decisions_books_and_ledger_trades_on_postgresql(
    make_live: Any, pg_url: str, body: dict[str, Any]
) -> None:
    live = make_live(CREDITDESK_DB_URL=pg_url)
    onboarding, ops, analyst = live.key("onboarding"), live.key("operations"), live.key("analyst")
    body["bureau"]["bureau_score"] = 845
    first = live.client.post("/v1/decisions", json=body, headers=onboarding)
    assert first.status_code == 201 and first.json()["outcome"] == "approve", first.text
    again = live.client.post("/v1/decisions", json=body, headers=onboarding)
    assert again.status_code == 200 and again.json() == first.json()

    instrument = {"symbol": "AAPL", "kind": "index_constituent", "price_minor": 17_250}
    assert live.client.put("/v1/instruments/1", json=instrument, headers=ops).status_code == 200
    opened = live.client.post("/v1/accounts", json={"decision_id": first.json()["decision_id"]}, headers=ops)
    assert opened.status_code == 201, opened.text
    customer = body["customer_id"]
    for op in (
        {"op_id": "d1", "kind": "deposit", "amount_minor": 2_000_000},
        {
            "op_id": "b1",
            "kind": "buy",
            "instrument_id": 1,
            "quantity": 50,
            "price_minor": 17_250,
            "fee_minor": 300,
        },
    ):
        done = live.client.post(f"/v1/accounts/{customer}/operations", json=op, headers=ops)
        assert done.status_code == 200 and done.json()["ok"], done.text
    # cash: 2,000,000 − 50 × 17,250 − 300 = 1,137,200
    assert live.client.get(f"/v1/accounts/{customer}", headers=ops).json()["cash_minor"] == 1_137_200

    later = {**body, "application_id": body["application_id"] + 1}
    later["application_date"] = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    second = live.client.post("/v1/decisions", json=later, headers=onboarding)
    assert second.status_code == 201, second.text
    got = live.client.get(f"/v1/decisions/{second.json()['decision_id']}?replay=true", headers=analyst).json()
    trades = got["stored"]["ledger_activity"]["trades"]
    assert got["stored"]["trades_source"] == "ledger" and trades["fees_minor"] == [300]
    assert trades["price"] == [172.5] and got["same_numbers"] is True
