"""Posting an operation's transfers inside a margin unit of work, and recognising a retry."""

from __future__ import annotations

from typing import Any

from creditdesk.business_time import refuse_before_opening
from creditdesk.errors import InputError
from ledger.domain import SUCCESS_RESULTS, Transfer, TransferResult
from ledger.service import create_transfers_in
from margin.domain import Facility, OperationResult
from margin.planners import linked_chain
from margin.repository import MarginUnitOfWork


def post_chain(
    uow: MarginUnitOfWork, op_id: str, batch: list[Transfer], details: dict[str, Any], now_ns: int
) -> OperationResult:
    """Post ``batch`` as one linked chain; the reason is the first real failure's result code."""
    batch = linked_chain(batch)
    results = create_transfers_in(uow.ledger, batch, now_ns)
    pairs = [(t.id, r.value) for t, r in zip(batch, results, strict=True)]
    failed = [r for r in results if r not in SUCCESS_RESULTS]
    if failed:
        reason = next((r.value for r in failed if r != TransferResult.LINKED_EVENT_FAILED), failed[0].value)
        return OperationResult(op_id, False, reason, pairs, details)
    return OperationResult(op_id, True, "ok", pairs, details)


def replayed(
    uow: MarginUnitOfWork, op_id: str, ids: list[int], *expected: tuple[int, int]
) -> OperationResult | None:
    """A retried trade: its transfers are stored; same trade → ok, other amounts → refused."""
    stored = uow.ledger.load_transfers(ids)
    if not stored:
        return None
    for tid, amount in expected:
        if tid not in stored or stored[tid].amount_minor != amount:
            return OperationResult(op_id, False, "exists_with_different_body", [], {})
    return OperationResult(op_id, True, "ok", [(i, "exists") for i in ids if i in stored], {"replayed": True})


def facility_of(uow: MarginUnitOfWork, customer_id: int, at_ns: int | None = None) -> Facility:
    """The customer's facility; with ``at_ns`` (the operation's business time) an operation
    dated before the facility opened is refused (``at``), nothing written."""
    fac = uow.margin.facility(customer_id)
    if fac is None:
        raise InputError(f"customer {customer_id} has no margin facility", field="customer_id")
    if at_ns is not None:
        refuse_before_opening(at_ns, fac.opened_at_ns)
    return fac
