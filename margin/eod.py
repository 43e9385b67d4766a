"""End of day for the margin books: the ledger's reconciliation plus the interest check.

The ledger proves its own books (trial balance, replay, limits) without knowing what an
account means. Interest is a margin rule: at most one accrual per loan and day, and with
``day`` given, exactly one for every loan that had principal outstanding. It runs on the
same snapshot as the ledger's checks, as an extra check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ledger.eod import EodBreak, EodCheck, EodReport, reconcile
from ledger.storage import transfers
from margin.chart import Code, TransferCode, code_of, customer_account, owner_of


def yyyymmdd(day: dt.date) -> int:
    """The integer form of a business day stored in an accrual's ``user_data``."""
    return day.year * 10_000 + day.month * 100 + day.day


def interest_check(day: int | None) -> EodCheck:
    """The interest rule as an end-of-day check (``day`` as yyyymmdd, or None: duplicates only)."""

    def check(conn: Connection, stored: dict[int, Any], report: EodReport) -> None:
        accruals = conn.execute(
            select(transfers.c.debit_account_id, transfers.c.user_data, func.count())
            .where(transfers.c.code == int(TransferCode.INTEREST_ACCRUAL))
            .group_by(transfers.c.debit_account_id, transfers.c.user_data)
        ).all()
        seen: set[int] = set()
        accrued_today = 0
        for aid, on_day, n in accruals:
            if n > 1:
                report.breaks.append(
                    EodBreak("interest", aid, f"interest accrued {n} times for day {on_day}")
                )
            if day is not None and on_day == day:
                seen.add(owner_of(aid))
                accrued_today += 1
        report.extra.update(interest_day=day, interest_accruals=accrued_today)
        if day is None:
            return
        for aid, r in stored.items():
            is_loan = code_of(aid) == Code.MARGIN_LOAN
            if is_loan and r.debits_posted > r.credits_posted and owner_of(aid) not in seen:
                interest_acct = customer_account(owner_of(aid), Code.ACCRUED_INTEREST)
                report.breaks.append(
                    EodBreak("interest", interest_acct, f"no interest accrued for day {day}")
                )

    return check


def reconcile_books(engine: Engine, day: dt.date | None = None) -> EodReport:
    """The ledger's end of day with the margin interest rule (for ``day`` when given)."""
    return reconcile(engine, [interest_check(None if day is None else yyyymmdd(day))])
