"""Pure planners: state in, transfers out. No database, no clock, no rules checked here.

Each planner turns one margin operation into the ledger transfers that carry it out, with
ids derived from the operation id (``operation_transfer_id``) so a retry names the same
transfers. The service checks the rules first (margin, limits, pre-trade checks), then
posts what a planner returns as one linked chain: all or nothing.

Every leg of a trade (shares, cash, fee, the loan draw or repayment it causes) carries the
trade's id in ``user_data``, so the decision path reads a customer's trades as facts
(``margin.trades.trades_before``) instead of guessing them from positions in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from creditdesk.daycount import convention_for_currency, daily_interest_minor
from ledger.domain import Transfer, TransferFlags
from margin.chart import (
    Code,
    TransferCode,
    clearing_securities_account,
    customer_account,
    memo_ledger,
    operation_transfer_id,
    platform_account,
)
from margin.domain import Facility

LINKED = int(TransferFlags.LINKED)


def trade_id(kind: str, customer_id: int, op_id: str) -> int:
    """The id of one trade (``kind`` buy / sell / liquidate), stored on each of its legs."""
    return operation_transfer_id("trade", kind, customer_id, op_id)


def trade_leg_ids(kind: str, customer_id: int, op_id: str, n: int) -> list[int]:
    return [operation_transfer_id(kind, customer_id, op_id, k) for k in range(n)]


def linked_chain(batch: Sequence[Transfer]) -> list[Transfer]:
    """Flag every transfer but the last as linked to the next: the ledger applies all or none."""
    return [replace(t, flags=t.flags | LINKED) if i < len(batch) - 1 else t for i, t in enumerate(batch)]


def plan_line_grant(fac: Facility) -> Transfer:
    cash = fac.currency_ledger
    return Transfer(
        operation_transfer_id("line", fac.customer_id, fac.decision_id),
        platform_account(Code.LINE_CONTROL, cash),
        customer_account(fac.customer_id, Code.CREDIT_LINE),
        fac.line_minor,
        memo_ledger(cash),
        int(TransferCode.LINE_GRANT),
    )


def plan_cash_flow(
    customer_id: int, cash_ledger: int, op_id: str, amount_minor: int, deposit: bool
) -> Transfer:
    """A deposit (funding → customer cash) or a withdrawal (the reverse)."""
    kind = "deposit" if deposit else "withdraw"
    funding = platform_account(Code.FUNDING, cash_ledger)
    cash = customer_account(customer_id, Code.CUSTOMER_CASH)
    debit, credit = (funding, cash) if deposit else (cash, funding)
    code = TransferCode.DEPOSIT if deposit else TransferCode.WITHDRAWAL
    return Transfer(
        operation_transfer_id(kind, customer_id, op_id), debit, credit, amount_minor, cash_ledger, int(code)
    )


def plan_fee(customer_id: int, cash_ledger: int, op_id: str, amount_minor: int) -> Transfer:
    """A fee owed by the customer: added to the debt (accrued interest and fees)."""
    return Transfer(
        operation_transfer_id("fee", customer_id, op_id),
        customer_account(customer_id, Code.ACCRUED_INTEREST),
        platform_account(Code.FEE_INCOME, cash_ledger),
        amount_minor,
        cash_ledger,
        int(TransferCode.FEE),
    )


@dataclass(frozen=True)
class BuyPlan:
    transfers: list[Transfer]
    trade_id: int


def plan_buy(
    customer_id: int,
    cash_ledger: int,
    op_id: str,
    instrument_id: int,
    quantity: int,
    cost_minor: int,
    fee_minor: int,
    draw_minor: int,
) -> BuyPlan:
    """Line use and loan draw (if cash is short), cash to clearing, fee, shares in."""
    ids = trade_leg_ids("buy", customer_id, op_id, 5)
    tid = trade_id("buy", customer_id, op_id)
    cash_acct = customer_account(customer_id, Code.CUSTOMER_CASH)
    sec = clearing_securities_account(instrument_id)
    legs: list[tuple[int, int, int, int, int, TransferCode]] = []
    if draw_minor:
        legs.append(
            (
                ids[0],
                customer_account(customer_id, Code.CREDIT_LINE),
                platform_account(Code.LINE_CONTROL, cash_ledger),
                draw_minor,
                memo_ledger(cash_ledger),
                TransferCode.LINE_USE,
            )
        )
        legs.append(
            (
                ids[1],
                customer_account(customer_id, Code.MARGIN_LOAN),
                cash_acct,
                draw_minor,
                cash_ledger,
                TransferCode.LOAN_DRAW,
            )
        )
    legs.append(
        (
            ids[2],
            cash_acct,
            platform_account(Code.CLEARING_CASH, cash_ledger),
            cost_minor,
            cash_ledger,
            TransferCode.TRADE_CASH,
        )
    )
    if fee_minor:
        legs.append(
            (
                ids[3],
                cash_acct,
                platform_account(Code.FEE_INCOME, cash_ledger),
                fee_minor,
                cash_ledger,
                TransferCode.FEE,
            )
        )
    legs.append(
        (
            ids[4],
            customer_account(customer_id, Code.SECURITIES, instrument_id),
            sec.id,
            quantity,
            sec.ledger,
            TransferCode.TRADE_SECURITIES,
        )
    )
    return BuyPlan(
        [Transfer(i, dr, cr, amt, led, int(code), user_data=tid) for i, dr, cr, amt, led, code in legs], tid
    )


@dataclass(frozen=True)
class SellPlan:
    transfers: list[Transfer]
    trade_id: int
    interest_repaid_minor: int
    loan_repaid_minor: int


def plan_sell(
    customer_id: int,
    cash_ledger: int,
    op_id: str,
    instrument_id: int,
    quantity: int,
    gross_minor: int,
    fee_minor: int,
    loan_minor: int,
    accrued_minor: int,
    liquidation: bool = False,
) -> SellPlan:
    """Shares out, cash in, fee; proceeds repay accrued interest, then the loan (releasing the line)."""
    kind = "liquidate" if liquidation else "sell"
    ids = trade_leg_ids(kind, customer_id, op_id, 6)
    tid = trade_id(kind, customer_id, op_id)
    net = gross_minor - fee_minor
    pay_interest = min(accrued_minor, net)
    pay_loan = min(loan_minor, net - pay_interest)
    sec = clearing_securities_account(instrument_id)
    code_cash = TransferCode.LIQUIDATION_CASH if liquidation else TransferCode.TRADE_CASH
    code_sec = TransferCode.LIQUIDATION_SECURITIES if liquidation else TransferCode.TRADE_SECURITIES
    cash_acct = customer_account(customer_id, Code.CUSTOMER_CASH)
    legs = [
        (
            ids[0],
            sec.id,
            customer_account(customer_id, Code.SECURITIES, instrument_id),
            quantity,
            sec.ledger,
            code_sec,
        ),
        (
            ids[1],
            platform_account(Code.CLEARING_CASH, cash_ledger),
            cash_acct,
            gross_minor,
            cash_ledger,
            code_cash,
        ),
        (
            ids[2],
            cash_acct,
            platform_account(Code.FEE_INCOME, cash_ledger),
            fee_minor,
            cash_ledger,
            TransferCode.FEE,
        ),
        (
            ids[3],
            cash_acct,
            customer_account(customer_id, Code.ACCRUED_INTEREST),
            pay_interest,
            cash_ledger,
            TransferCode.INTEREST_PAYMENT,
        ),
        (
            ids[4],
            cash_acct,
            customer_account(customer_id, Code.MARGIN_LOAN),
            pay_loan,
            cash_ledger,
            TransferCode.LOAN_REPAY,
        ),
        (
            ids[5],
            platform_account(Code.LINE_CONTROL, cash_ledger),
            customer_account(customer_id, Code.CREDIT_LINE),
            pay_loan,
            memo_ledger(cash_ledger),
            TransferCode.LINE_RELEASE,
        ),
    ]
    batch = [
        Transfer(i, dr, cr, amt, led, int(code), user_data=tid)
        for i, dr, cr, amt, led, code in legs
        if amt > 0
    ]
    return SellPlan(batch, tid, pay_interest, pay_loan)


@dataclass(frozen=True)
class WriteOffPlan:
    transfers: list[Transfer]
    loss_minor: int


def plan_write_off(
    customer_id: int, cash_ledger: int, op_id: str, cash_minor: int, loan_minor: int, accrued_minor: int
) -> WriteOffPlan:
    """Cash pays what it can (interest first), the rest of the debt is a loss; the line is released."""
    ids = [operation_transfer_id("writeoff", customer_id, op_id, k) for k in range(5)]
    cash_acct = customer_account(customer_id, Code.CUSTOMER_CASH)
    interest_acct = customer_account(customer_id, Code.ACCRUED_INTEREST)
    loan_acct = customer_account(customer_id, Code.MARGIN_LOAN)
    pay_i = min(cash_minor, accrued_minor)
    pay_l = min(cash_minor - pay_i, loan_minor)
    loss_i, loss_l = accrued_minor - pay_i, loan_minor - pay_l
    loss_acct = platform_account(Code.LOSS_WRITE_OFF, cash_ledger)
    plan = [
        (ids[0], cash_acct, interest_acct, pay_i, cash_ledger, TransferCode.INTEREST_PAYMENT),
        (ids[1], cash_acct, loan_acct, pay_l, cash_ledger, TransferCode.LOAN_REPAY),
        (ids[2], loss_acct, interest_acct, loss_i, cash_ledger, TransferCode.WRITE_OFF),
        (ids[3], loss_acct, loan_acct, loss_l, cash_ledger, TransferCode.WRITE_OFF),
        (
            ids[4],
            platform_account(Code.LINE_CONTROL, cash_ledger),
            customer_account(customer_id, Code.CREDIT_LINE),
            loan_minor,
            memo_ledger(cash_ledger),
            TransferCode.LINE_RELEASE,
        ),
    ]
    batch = [Transfer(i, dr, cr, amt, led, int(code)) for i, dr, cr, amt, led, code in plan if amt > 0]
    return WriteOffPlan(batch, loss_i + loss_l)


def plan_accruals(
    facilities: Sequence[Facility], principals_minor: Sequence[int], yyyymmdd: int
) -> list[Transfer]:
    """One day's interest per facility with principal outstanding (``user_data`` = the day)."""
    out = []
    for fac, principal in zip(facilities, principals_minor, strict=True):
        if principal <= 0:
            continue
        # one calendar day at the contract's day count (ACT/360), integer minor units, half up
        amount = daily_interest_minor(
            principal, fac.annual_rate_bps, convention_for_currency(fac.currency_ledger)
        )
        if amount <= 0:
            continue
        out.append(
            Transfer(
                operation_transfer_id("interest", fac.customer_id, yyyymmdd),
                customer_account(fac.customer_id, Code.ACCRUED_INTEREST),
                platform_account(Code.INTEREST_INCOME, fac.currency_ledger),
                amount,
                fac.currency_ledger,
                int(TransferCode.INTEREST_ACCRUAL),
                user_data=yyyymmdd,
            )
        )
    return out
