"""``open_from_decision``: a line opens only from an approved, journalled decision, on its terms."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ledger.journal import DecisionJournal
from ledger.storage import accounts, transfers
from margin.opening import OpeningRefused, open_from_decision
from margin.service import MarginDesk
from margin.storage import facilities


def journal(
    engine: Engine, decision_id: str, customer_id: int, outcome: str = "approve", **record: Any
) -> None:
    payload = {
        "request": {"customer_id": customer_id},
        "record": {
            "outcome": outcome,
            "credit_limit_minor": 250_000 if outcome == "approve" else 0,
            "annual_rate": 0.0815,
            "max_leverage": 1.5,
            **record,
        },
    }
    DecisionJournal(engine).append(decision_id, f"app-{decision_id}", payload)


def rows(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (facilities, accounts, transfers)
        )


def test_terms_come_from_the_decision_and_a_resend_is_idempotent(engine: Engine) -> None:
    desk = MarginDesk(engine)
    lookup = DecisionJournal(engine).get
    journal(engine, "d-1", 11)
    first = open_from_decision(desk, lookup, "d-1")
    assert first.created and first.facility.customer_id == 11
    # line = credit limit, rate 8.15 % = 815 bps, leverage cap 1 + 1.5 = 2.5x gross / equity
    fac = first.facility
    assert (fac.line_minor, fac.annual_rate_bps, fac.max_leverage_bps) == (250_000, 815, 25_000)
    again = open_from_decision(desk, lookup, "d-1")
    assert not again.created and again.facility == fac


@pytest.mark.parametrize(
    ("setup", "decision", "kwargs", "rule"),
    [
        ([], "missing", {}, "not_found"),
        ([("d-decl", 12, "decline")], "d-decl", {}, "not_approved"),
        ([("d-ref", 12, "refer")], "d-ref", {}, "not_approved"),
        ([("d-a", 12, "approve")], "d-a", {"regime_name": "us"}, "terms_conflict"),
        ([("d-a", 12, "approve"), ("d-b", 12, "approve")], "d-b", {}, "facility_exists"),
    ],
)
def test_refusals_carry_a_reason_and_write_nothing(
    engine: Engine, setup: list[tuple[str, int, str]], decision: str, kwargs: dict[str, Any], rule: str
) -> None:
    desk = MarginDesk(engine)
    lookup = DecisionJournal(engine).get
    for decision_id, customer, outcome in setup:
        journal(engine, decision_id, customer, outcome)
    if rule in ("terms_conflict", "facility_exists"):
        open_from_decision(desk, lookup, "d-a")  # the first facility of customer 12
    before = rows(engine)
    with pytest.raises(OpeningRefused) as info:
        open_from_decision(desk, lookup, decision, **kwargs)
    assert info.value.rule == rule and info.value.field == "decision_id"
    assert rows(engine) == before


def test_a_used_decision_does_not_reopen_a_written_off_facility(engine: Engine) -> None:
    desk = MarginDesk(engine)
    lookup = DecisionJournal(engine).get
    journal(engine, "d-w", 13)
    open_from_decision(desk, lookup, "d-w")
    with engine.begin() as conn:
        conn.execute(facilities.update().values(status="written_off"))
    with pytest.raises(OpeningRefused) as info:
        open_from_decision(desk, lookup, "d-w")
    assert info.value.rule == "decision_used"


# Issue 13 ("policy knows its regime and currency"): a decision priced under a policy in one
# currency opens no facility in another. Its thresholds and line are that currency's minor
# units (CNY fen vs USD cents), so the facility would lend the wrong amount of money.
@pytest.mark.parametrize(
    ("kwargs", "rule", "field"),
    [
        ({"currency": "USD"}, "currency_mismatch", "currency"),
        ({"regime_name": "us", "currency": "USD"}, "regime_mismatch", "regime"),
        ({"regime_name": "us"}, "regime_mismatch", "regime"),
    ],
)
def test_a_facility_in_another_currency_or_regime_than_the_decision_is_refused(
    engine: Engine, kwargs: dict[str, Any], rule: str, field: str
) -> None:
    desk = MarginDesk(engine)
    lookup = DecisionJournal(engine).get
    journal(engine, "d-cny", 21, regime="cn", currency="CNY")
    before = rows(engine)
    with pytest.raises(OpeningRefused) as info:
        open_from_decision(desk, lookup, "d-cny", **kwargs)
    assert info.value.rule == rule and info.value.field == field
    assert field in info.value.one_line() and rule in info.value.one_line()
    assert rows(engine) == before  # nothing written


def test_regime_and_currency_default_to_the_decisions(engine: Engine) -> None:
    from margin.chart import currency_ledger

    desk = MarginDesk(engine)
    lookup = DecisionJournal(engine).get
    journal(engine, "d-usd", 22, regime="us", currency="USD")
    fac = open_from_decision(desk, lookup, "d-usd").facility
    assert (fac.regime, fac.currency_ledger) == ("us", currency_ledger("USD"))
    # the same terms named explicitly (lower-case currency too) are the same facility
    again = open_from_decision(desk, lookup, "d-usd", regime_name="us", currency="usd")
    assert not again.created and again.facility == fac
