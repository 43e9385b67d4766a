"""Both sides of a decision, each asserted: an approval carries a priced line, a knock-out declines.

The tiny real champion of conftest reads the bureau score only (its other columns are
constant in training), so the outcome is fixed by the inputs and every assertion runs
(no ``if outcome ...`` guard).
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_a_strong_applicant_is_approved_with_a_priced_line(live: Any, body: dict[str, Any]) -> None:
    body["bureau"]["bureau_score"] = 845
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "approve", decision
    assert 0 < decision["credit_limit_minor"] <= body["requested_line_minor"]
    assert decision["ead_minor"] > 0
    assert decision["expected_loss_minor"] == pytest.approx(
        decision["pd_12m"] * decision["lgd"] * decision["ead_minor"]
    )


def test_a_sanctions_hit_is_declined_with_no_line(live: Any, body: dict[str, Any]) -> None:
    body["bureau"]["bureau_score"] = 845  # the model alone would approve
    body["kyc"]["sanctions_hit"] = True
    response = live.client.post("/v1/decisions", json=body, headers=live.key("onboarding"))
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "decline", decision
    assert decision["credit_limit_minor"] == 0 and decision["expected_loss_minor"] == 0
