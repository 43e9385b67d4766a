"""One customer's margin state, read inside the operation's transaction and evaluated by the engine.

The operations (buy, withdraw, the margin view) need the same numbers the book-wide
marking uses: cash, loan, accrued interest and fees, positions at the last prices. They
build a one-account ``Book`` and call ``margin.engine.evaluate``, so one customer and a
hundred thousand are judged by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from creditdesk.errors import InputError
from ledger.domain import Account
from margin.chart import Code, customer_account
from margin.domain import BPS_PER_UNIT, Facility, MarginView, credit_balance, debit_balance
from margin.engine import Book, Evaluation, Status, evaluate, regime
from margin.repository import MarginUnitOfWork


@dataclass(frozen=True)
class CustomerState:
    """Balances of one customer in minor units and shares (after any hypothetical change)."""

    cash_minor: int
    loan_minor: int
    accrued_minor: int  # accrued interest and fees
    positions: dict[int, int]  # instrument id → shares

    @property
    def debt_minor(self) -> int:
        return self.loan_minor + self.accrued_minor


def customer_state(uow: MarginUnitOfWork, customer_id: int, locked: dict[int, Account]) -> CustomerState:
    return CustomerState(
        credit_balance(locked.get(customer_account(customer_id, Code.CUSTOMER_CASH))),
        debit_balance(locked.get(customer_account(customer_id, Code.MARGIN_LOAN))),
        debit_balance(locked.get(customer_account(customer_id, Code.ACCRUED_INTEREST))),
        uow.margin.positions(customer_id),
    )


def evaluate_state(state: CustomerState, fac: Facility, instruments: dict[int, Any]) -> Evaluation:
    """The engine's evaluation of one customer at the instrument master's last prices."""
    ids = sorted(i for i, q in state.positions.items() if q > 0)
    missing = [i for i in ids if i not in instruments]
    if missing:
        raise InputError(f"instrument {missing[0]} has no price: register it first", field="instrument_id")
    prices = np.array([instruments[i].price_minor for i in ids], dtype=np.float64)
    conv = np.array([instruments[i].conversion_rate_bps / BPS_PER_UNIT for i in ids], dtype=np.float64)
    book = Book(
        np.array([float(state.cash_minor)]),
        np.array([float(state.debt_minor)]),
        np.zeros(len(ids), dtype=np.int64),
        np.arange(len(ids)),
        np.array([state.positions[i] for i in ids], dtype=np.float64),
        haircut_addon=np.array([fac.haircut_addon_bps / BPS_PER_UNIT]),
    )
    return evaluate(book, prices, conv, regime(fac.regime))


def margin_view(uow: MarginUnitOfWork, fac: Facility) -> MarginView:
    """The customer's margin position at the last prices, from the engine."""
    state = customer_state(uow, fac.customer_id, uow.lock_customer(fac.customer_id))
    ev = evaluate_state(state, fac, uow.margin.instruments())
    return MarginView(
        fac.customer_id,
        fac.regime,
        state.cash_minor,
        state.loan_minor,
        state.accrued_minor,
        round(float(ev.market_value[0])),
        round(float(ev.collateral_value[0])),
        float(ev.ratio[0]),
        str(Status(int(ev.status[0])).name.lower()),
        int(np.ceil(ev.topup_minor[0])),
        int(np.floor(ev.withdrawable_minor[0])),
        {i: q for i, q in state.positions.items() if q > 0},
    )
