"""Interest accrual and write-off inside a margin unit of work (planned by ``margin.planners``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from creditdesk.business_time import business_day, exchange_tz
from creditdesk.daycount import days_to_accrue
from creditdesk.errors import InputError
from ledger.domain import SUCCESS_RESULTS, TransferResult
from ledger.service import create_transfers_in
from margin.chart import Code, customer_account
from margin.customer import customer_state
from margin.domain import MAX_TRANSFERS_PER_BATCH, Facility, OperationResult, debit_balance
from margin.eod import yyyymmdd
from margin.planners import plan_accruals, plan_write_off
from margin.posting import facility_of, post_chain
from margin.repository import MarginUnitOfWork


def accrue_in(
    uow: MarginUnitOfWork, day_key: int, customer_ids: Sequence[int] | None, clock: Callable[[], int]
) -> int:
    """One day's interest on every open loan, in ledger batches of ``MAX_TRANSFERS_PER_BATCH``.

    interest = loan × rate / 360 (ACT/360, ``creditdesk.daycount``), rounded half up to the
    minor unit. Idempotent per customer and day: the transfer id derives from both.
    """
    facs = uow.margin.open_facilities(customer_ids)
    loans = uow.ledger.load_accounts([customer_account(f.customer_id, Code.MARGIN_LOAN) for f in facs])
    principals = [debit_balance(loans.get(customer_account(f.customer_id, Code.MARGIN_LOAN))) for f in facs]
    return _post_accruals(uow, plan_accruals(facs, principals, day_key), clock)


def accrue_through_in(
    uow: MarginUnitOfWork, through: dt.date, customer_ids: Sequence[int] | None, clock: Callable[[], int]
) -> int:
    """Every calendar day since each loan's last accrual (or its opening) through ``through``.

    Weekends and holidays are charged like any day (the contract's ACT/360). Each day's
    principal is the loan outstanding at the end of that day in the exchange's time zone
    (the ledger's timestamps say when each draw and repayment happened). Idempotent per loan
    and day: a day already accrued keeps its transfer id, so a re-run posts nothing.
    """
    facs = uow.margin.open_facilities(customer_ids)
    last = uow.margin.last_accrued_days([f.customer_id for f in facs])
    batch = []
    for fac in facs:
        opened = business_day(fac.opened_at_ns, fac.regime)
        if through < opened:
            continue
        done = last.get(fac.customer_id)
        days = days_to_accrue(_from_key(done) if done else None, through, opened)
        for day, principal in zip(days, _principal_at_day_ends(uow, fac, days), strict=True):
            batch += plan_accruals([fac], [principal], yyyymmdd(day))
    return _post_accruals(uow, batch, clock)


def _from_key(key: int) -> dt.date:
    return dt.date(key // 10_000, key // 100 % 100, key % 100)


def _principal_at_day_ends(uow: MarginUnitOfWork, fac: Facility, days: list[dt.date]) -> list[int]:
    if not days:
        return []
    moves = uow.margin.loan_movements(fac.customer_id)
    if not moves:
        return [0] * len(days)
    stamps = np.array([m[0] for m in moves], dtype=np.int64)
    running = np.cumsum([m[1] for m in moves])
    tz = ZoneInfo(exchange_tz(fac.regime))
    ends = np.array(
        [
            int(dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=tz).timestamp()) * 10**9
            for d in days
        ],
        dtype=np.int64,
    )
    idx = np.searchsorted(stamps, ends, side="left") - 1  # movements strictly before the day's end
    return [int(running[i]) if i >= 0 else 0 for i in idx]


def _post_accruals(uow: MarginUnitOfWork, batch: list, clock: Callable[[], int]) -> int:
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
