"""The one day-count convention for interest: ledger accrual, margin engine, stress replay,
generator and pricing all call these functions, so a yuan of interest is the same yuan
everywhere.

Conventions (contract terms; DESIGN.md "The margin maths"):

* ``ACT/360`` — CNY broker margin contracts (融资融券合同: 日利率 = 年利率 / 360, charged on
  every calendar day the loan is outstanding) and, by our contract, USD.
* ``ACT/365`` — available for contracts that say so.

Interest is charged for **every calendar day** (weekends and holidays included), accrued
per day in integer minor units with half-up rounding. The period figure is the sum of the
daily figures (``days × daily``), so a ledger that posts one transfer per loan and day sums
exactly to what a statement computed for the period shows. Accrual catches up from the day
after the last accrued day (``days_to_accrue``).

Pure functions, no clock: the caller passes the dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, overload

import numpy as np

from creditdesk.errors import InputError

Convention = Literal["ACT/360", "ACT/365"]
YEAR_BASIS_DAYS: dict[str, int] = {"ACT/360": 360, "ACT/365": 365}
BPS_PER_UNIT = 10_000
# ISO 4217 numeric code of the cash ledger -> the contract's day count.
CONVENTION_BY_CURRENCY: dict[int, Convention] = {156: "ACT/360", 840: "ACT/360"}
# int64 headroom: 2 * principal * rate_bps * days must stay below 2**63.
_MAX_PRODUCT = 2**62


def year_basis_days(convention: str) -> int:
    """Days in the year's denominator of ``convention`` (ACT/360 -> 360)."""
    try:
        return YEAR_BASIS_DAYS[convention]
    except KeyError as exc:
        raise InputError(
            f"day count must be one of {sorted(YEAR_BASIS_DAYS)}, got {convention!r}", field="day_count"
        ) from exc


def convention_for_currency(currency_ledger: int) -> Convention:
    """The contract day count for a cash ledger (ISO 4217 numeric: 156 CNY, 840 USD)."""
    try:
        return CONVENTION_BY_CURRENCY[currency_ledger]
    except KeyError as exc:
        raise InputError(
            f"no day-count convention for currency ledger {currency_ledger}", field="currency"
        ) from exc


def actual_days(start: dt.date, end: dt.date) -> int:
    """Calendar days from ``start`` to ``end`` (ACT): Friday -> Monday is 3."""
    return (end - start).days


def year_fraction(days: float | np.ndarray, convention: str = "ACT/360") -> float | np.ndarray:
    """``days / basis`` — for float analytics (generator, replay, pricing) on the same basis."""
    basis = year_basis_days(convention)
    if isinstance(days, np.ndarray):
        return days.astype(np.float64) / basis
    return float(days) / basis


@overload
def daily_interest_minor(principal_minor: int, annual_rate_bps: int, convention: str = ...) -> int: ...
@overload
def daily_interest_minor(
    principal_minor: np.ndarray, annual_rate_bps: int | np.ndarray, convention: str = ...
) -> np.ndarray: ...
def daily_interest_minor(
    principal_minor: int | np.ndarray, annual_rate_bps: int | np.ndarray, convention: str = "ACT/360"
) -> int | np.ndarray:
    """One calendar day of interest on ``principal_minor``: principal × rate / basis, half up.

    Integers in, integers out (Python ints stay exact; numpy arrays are int64 with an
    overflow guard). Half-up on a non-negative amount: ``(2·P·r + D) // (2·D)`` with
    ``D = basis × 10,000`` (the rate is in basis points).
    """
    basis = year_basis_days(convention)
    denom = basis * BPS_PER_UNIT
    if isinstance(principal_minor, np.ndarray) or isinstance(annual_rate_bps, np.ndarray):
        p = np.asarray(principal_minor, dtype=np.int64)
        r = np.asarray(annual_rate_bps, dtype=np.int64)
        if (p < 0).any() or (r < 0).any():
            raise InputError("principal and rate must be ≥ 0", field="principal_minor")
        if p.size and int(p.max()) * int(r.max() if r.size else 0) * 2 >= _MAX_PRODUCT:
            raise InputError("principal × rate too large for int64 interest", field="principal_minor")
        return (2 * p * r + denom) // (2 * denom)
    p_int, r_int = int(principal_minor), int(annual_rate_bps)
    if p_int < 0 or r_int < 0:
        raise InputError("principal and rate must be ≥ 0", field="principal_minor")
    return (2 * p_int * r_int + denom) // (2 * denom)


def interest_minor(
    principal_minor: int, annual_rate_bps: int, start: dt.date, end: dt.date, convention: str = "ACT/360"
) -> int:
    """Interest on a loan drawn on ``start`` and repaid on ``end``: one daily charge for every
    calendar night in between (Friday -> Monday = Friday, Saturday and Sunday = 3 days).

    Equals the sum of what ``days_to_accrue`` + ``daily_interest_minor`` post one day at a
    time, which is the point: statement and ledger agree to the fen.
    """
    days = actual_days(start, end)
    if days < 0:
        raise InputError(f"end {end} is before start {start}", field="end")
    return days * daily_interest_minor(principal_minor, annual_rate_bps, convention)


def days_to_accrue(last_accrued: dt.date | None, through: dt.date, opened: dt.date) -> list[dt.date]:
    """Every calendar day still to charge: from the day after ``last_accrued`` (or ``opened``
    when nothing was accrued yet) through ``through``. Day D stands for the night of D, so a
    loan drawn on Friday and accrued through Sunday is charged 3 days by Monday.

    Empty when already accrued through that day (so re-running is a no-op: idempotent).
    """
    if through < opened:
        raise InputError(f"through {through} is before the facility opened on {opened}", field="through")
    first = opened if last_accrued is None else max(last_accrued + dt.timedelta(days=1), opened)
    return [first + dt.timedelta(days=k) for k in range((through - first).days + 1)]
