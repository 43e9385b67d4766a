"""The margin room's nouns and limits: facilities, operation results, views, input checks.

Pure: no database, no clock. Limits are stated once here with their units (TigerStyle:
every loop and every batch has a bound), and the service, the planners and the marking
path name them instead of repeating literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from creditdesk.errors import InputError
from ledger.domain import MAX_BATCH, MAX_INT64, Account
from margin.chart import MAX_CUSTOMER_ID, MAX_INSTRUMENT_ID

# ---- limits (units in the names) -------------------------------------------------------------
MAX_CUSTOMER_ID_INCLUSIVE = MAX_CUSTOMER_ID - 1  # customer ids 1 … 89,999,999,999 fit the id scheme
MAX_INSTRUMENT_ID_INCLUSIVE = MAX_INSTRUMENT_ID  # instrument ids 1 … 999,999 (the id scheme's sub)
MAX_OP_ID_CHARS = 64  # operation and decision ids: printable, 1 … 64 characters
MAX_TRANSFERS_PER_BATCH = 8_000  # one ledger batch of a bulk job (accrual, marking): < ledger MAX_BATCH
MAX_FACILITIES_PER_MARK_CHUNK = 10_000  # rows one marking write statement touches (~30 ms on SQLite)
MAX_ANNUAL_RATE_BPS = 10_000  # 100 % a year
MIN_LEVERAGE_BPS = 10_000  # gross exposure / equity: 1x (no borrowing)
MAX_LEVERAGE_BPS = 100_000  # 10x
DEFAULT_LEVERAGE_BPS = 20_000  # 2x
NS_PER_DAY = 86_400 * 10**9
BPS_PER_UNIT = 10_000
# Day-count basis per cash ledger (days in the interest year): CNY ACT/365, USD ACT/360.

assert MAX_TRANSFERS_PER_BATCH <= MAX_BATCH


@dataclass(frozen=True)
class OperationResult:
    op_id: str
    ok: bool
    reason: str  # "ok", a ledger result code of the failing transfer, or a margin rule
    transfers: list[tuple[int, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Facility:
    customer_id: int
    decision_id: str
    currency_ledger: int
    line_minor: int
    annual_rate_bps: int
    max_leverage_bps: int
    regime: str
    status: str
    opened_at_ns: int = 0
    haircut_addon_bps: int = 0  # the grade tier's add-on, stored at opening (issue 13)


@dataclass(frozen=True)
class MarginView:
    customer_id: int
    regime: str
    cash_minor: int
    loan_minor: int
    accrued_interest_minor: int
    market_value_minor: int
    collateral_value_minor: int
    ratio: float
    status: str
    topup_minor: int
    withdrawable_minor: int
    positions: dict[int, int]  # instrument id → shares


@dataclass(frozen=True)
class MarkResult:
    evaluated: int
    statuses: dict[int, str]  # customer → status
    calls_issued: list[int]
    calls_met: list[int]
    to_liquidate: list[int]


def positive(value: int, name: str, limit: int = MAX_INT64) -> int:
    """``value`` when it is an int in 1 … ``limit``; otherwise bad input naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InputError(f"{name} must be a positive integer ≤ {limit}", field=name)
    return value


def op_id_checked(op_id: str, name: str = "op_id") -> str:
    if not isinstance(op_id, str) or not 0 < len(op_id) <= MAX_OP_ID_CHARS or not op_id.isprintable():
        raise InputError(
            f"{name} must be a printable string of 1 to {MAX_OP_ID_CHARS} characters", field=name
        )
    return op_id


def instrument_checked(instrument_id: int) -> int:
    return positive(instrument_id, "instrument_id", MAX_INSTRUMENT_ID_INCLUSIVE)


def credit_balance(acct: Account | None) -> int:
    """Credits − debits posted (cash, the unused line): 0 for an account not opened yet."""
    return 0 if acct is None else acct.credits_posted - acct.debits_posted


def debit_balance(acct: Account | None) -> int:
    """Debits − credits posted (loan, accrued interest, shares held)."""
    return 0 if acct is None else acct.debits_posted - acct.credits_posted


def trade_value_minor(op_id: str, instrument_id: int, quantity: int, price_minor: int, fee_minor: int) -> int:
    """Check a trade's inputs (buy and sell alike) and return quantity × price in minor units."""
    positive(quantity, "quantity")
    positive(price_minor, "price_minor")
    instrument_checked(instrument_id)
    op_id_checked(op_id)
    if isinstance(fee_minor, bool) or not isinstance(fee_minor, int) or fee_minor < 0:
        raise InputError("fee_minor must be an integer ≥ 0", field="fee_minor")
    value = quantity * price_minor
    positive(value, "quantity × price_minor")
    return value
