"""Opening a facility from a credit decision: the one rule the CLI and the API both call.

A line is opened only from a journalled decision that approved it, and its terms come from
that decision, not from the caller: line = the decision's credit limit, rate = its annual
rate, leverage cap = 1 + its max leverage (pricing's leverage is loan / own equity, the
desk caps gross exposure / equity = (equity + loan) / equity). Regime and currency are the
decision's (its policy's): a caller may name them, but a decision priced under a policy in
another currency or regime is refused (``currency_mismatch`` / ``regime_mismatch``, field
``currency`` / ``regime``): its line and thresholds are minor units of the policy's currency,
so a CNY line opened as a USD facility would lend the wrong money. A decision journalled
before decisions carried them opens as the caller says (default ``cn``, CNY).

Outcomes (reason codes): ``created`` (new facility) or ``existing`` (the same decision with
the same regime and currency again: idempotent); refused with ``not_found`` (no such
decision), ``not_approved`` (declined, referred, or no line), ``facility_exists`` (the
customer has a facility from another decision), ``decision_used`` (this decision's facility
was closed or written off) or ``terms_conflict`` (the same decision re-opened as another
regime or currency). The check and the opening run in one transaction, so two racing
requests for one decision open one facility: one is ``created``, the other ``existing``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from creditdesk.errors import InputError
from margin.chart import currency_ledger
from margin.domain import (
    BPS_PER_UNIT,
    MAX_ANNUAL_RATE_BPS,
    MAX_CUSTOMER_ID_INCLUSIVE,
    MAX_LEVERAGE_BPS,
    MIN_LEVERAGE_BPS,
    Facility,
    op_id_checked,
)
from margin.engine import regime
from margin.repository import MarginUnitOfWork, run_margin
from margin.service import MarginDesk

DecisionLookup = Callable[[str], Any]  # decision id → journal entry (``.payload``) or None

NOT_FOUND = "not_found"
CONFLICT_RULES = frozenset({"not_approved", "facility_exists", "decision_used", "terms_conflict"})


class OpeningRefused(InputError):
    """A facility that may not be opened; ``rule`` is the reason code."""

    def __init__(self, rule: str, message: str, field: str = "decision_id") -> None:
        super().__init__(f"{rule}: {message}", field=field)
        self.rule = rule


@dataclass(frozen=True)
class OpenOutcome:
    facility: Facility
    created: bool  # False: the same decision was already open with these terms


def _decided(record: dict[str, Any], field: str, asked: str | None, legacy: str, rule: str) -> str:
    """The decision's regime or currency; a caller naming another one is refused."""
    decided = record.get(field)
    if decided is None:
        return legacy if asked is None else asked
    decided = str(decided)
    if asked is not None and asked.casefold() != decided.casefold():
        raise OpeningRefused(
            rule,
            f"{field} {asked!r} differs from the decision's {decided!r}: its policy's line and "
            f"thresholds are in {record.get('currency') or 'its currency'} ({record.get('regime')} rules)",
            field=field,
        )
    return decided


def terms_from_decision(
    decision_id: str, payload: dict[str, Any], regime_name: str | None, currency: str | None
) -> Facility:
    """Pure: the facility an approved decision grants (refused when it is not an approval with a line)."""
    try:
        record = payload["record"]
        customer_id = int(payload["request"]["customer_id"])
        outcome = str(record["outcome"])
        line = int(record["credit_limit_minor"])
        rate = float(record["annual_rate"])
        leverage = float(record.get("max_leverage", 1.0))
        addon = float(record.get("haircut_addon") or 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise OpeningRefused("not_approved", f"decision {decision_id} carries no line terms ({exc})") from exc
    if outcome != "approve" or line <= 0:
        raise OpeningRefused(
            "not_approved", f"decision outcome is {outcome!r}; only an approval with a line opens one"
        )
    if not (
        0 < customer_id <= MAX_CUSTOMER_ID_INCLUSIVE
        and math.isfinite(rate)
        and math.isfinite(leverage)
        and 0.0 <= addon < 1.0
    ):
        raise OpeningRefused("not_approved", f"decision {decision_id} has terms outside the books' range")
    regime_name = _decided(record, "regime", regime_name, "cn", "regime_mismatch")
    currency = _decided(record, "currency", currency, "CNY", "currency_mismatch").upper()
    regime(regime_name)
    rate_bps = min(max(1, round(rate * BPS_PER_UNIT)), MAX_ANNUAL_RATE_BPS)
    leverage_bps = min(max(round((1.0 + leverage) * BPS_PER_UNIT), MIN_LEVERAGE_BPS), MAX_LEVERAGE_BPS)
    return Facility(
        customer_id,
        decision_id,
        currency_ledger(currency),
        line,
        rate_bps,
        leverage_bps,
        regime_name,
        "open",
        haircut_addon_bps=round(addon * BPS_PER_UNIT),  # the grade's add-on, fixed at opening
    )


def _conflict(stored: Facility, wanted: Facility) -> str | None:
    if stored.decision_id != wanted.decision_id:
        return "facility_exists"
    if stored.status != "open":
        return "decision_used"
    if (stored.regime, stored.currency_ledger) != (wanted.regime, wanted.currency_ledger):
        return "terms_conflict"
    return None


def open_in(desk: MarginDesk, uow: MarginUnitOfWork, wanted: Facility) -> OpenOutcome:
    """Open ``wanted`` inside ``uow`` unless the books already say otherwise."""
    used = uow.margin.facility_by_decision(wanted.decision_id)
    stored = uow.margin.facility(wanted.customer_id) or used
    if stored is not None:
        rule = _conflict(stored, wanted)
        if rule is not None:
            raise OpeningRefused(
                rule,
                f"customer {stored.customer_id} has the facility of decision {stored.decision_id}"
                f" ({stored.status}, regime {stored.regime})",
            )
        return OpenOutcome(stored, False)
    facility, created = desk.open_facility_in(uow, wanted)
    return OpenOutcome(facility, created)


def open_from_decision(
    desk: MarginDesk,
    lookup: DecisionLookup,
    decision_id: str,
    regime_name: str | None = None,
    currency: str | None = None,
) -> OpenOutcome:
    """Open the facility of an approved decision, or refuse with a reason code (nothing written).

    ``regime_name`` / ``currency``: None takes the decision's; another than the decision's is
    refused before anything is written."""
    op_id_checked(decision_id, "decision_id")
    entry = lookup(decision_id)
    if entry is None:
        raise OpeningRefused(NOT_FOUND, f"no decision {decision_id!r} in the journal")
    wanted = terms_from_decision(decision_id, entry.payload, regime_name, currency)
    return run_margin(desk.engine, lambda uow: open_in(desk, uow, wanted))
