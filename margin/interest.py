"""Interest accrual and write-off inside a margin unit of work (planned by ``margin.planners``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from creditdesk.errors import InputError
from ledger.domain import SUCCESS_RESULTS, TransferResult
from ledger.service import create_transfers_in
from margin.chart import Code, customer_account
from margin.customer import customer_state
from margin.domain import MAX_TRANSFERS_PER_BATCH, OperationResult, debit_balance
from margin.planners import plan_accruals, plan_write_off
from margin.posting import facility_of, post_chain
from margin.repository import MarginUnitOfWork


def accrue_in(
    uow: MarginUnitOfWork, day_key: int, customer_ids: Sequence[int] | None, clock: Callable[[], int]
) -> int:
    """One day's interest on every open loan, in ledger batches of ``MAX_TRANSFERS_PER_BATCH``.

    interest = loan × rate / days-in-year (``DAY_COUNT_BASIS_BY_LEDGER``), rounded half up to
    the minor unit and at least 1 when anything is owed, so a loan never accrues nothing.
    Idempotent per customer and day: the transfer id derives from both.
    """
    facs = uow.margin.open_facilities(customer_ids)
    loans = uow.ledger.load_accounts([customer_account(f.customer_id, Code.MARGIN_LOAN) for f in facs])
    principals = [debit_balance(loans.get(customer_account(f.customer_id, Code.MARGIN_LOAN))) for f in facs]
    batch = plan_accruals(facs, principals, day_key)
    posted = 0
    for i in range(0, len(batch), MAX_TRANSFERS_PER_BATCH):
        results = create_transfers_in(uow.ledger, batch[i : i + MAX_TRANSFERS_PER_BATCH], clock())
        bad = [r for r in results if r not in SUCCESS_RESULTS]
        if bad:
            raise AssertionError(f"interest accrual refused: {bad[0]}")
        posted += sum(r == TransferResult.OK for r in results)
    return posted


def write_off_in(uow: MarginUnitOfWork, customer_id: int, op_id: str, now_ns: int) -> OperationResult:
    """Cash pays what it can (interest first), the rest of the debt is a loss; the line is released."""
    fac = facility_of(uow, customer_id)
    state = customer_state(uow, customer_id, uow.lock_customer(customer_id))
    if any(q > 0 for q in state.positions.values()):
        raise InputError("sell or liquidate every position before writing off", field="customer_id")
    plan = plan_write_off(
        customer_id, fac.currency_ledger, op_id, state.cash_minor, state.loan_minor, state.accrued_minor
    )
    if not plan.transfers:
        return OperationResult(op_id, True, "ok", [], {"loss_minor": 0})
    result = post_chain(uow, op_id, plan.transfers, {"loss_minor": plan.loss_minor}, now_ns)
    if result.ok and plan.loss_minor > 0:
        uow.margin.set_facility_status(customer_id, "written_off")
    return result
