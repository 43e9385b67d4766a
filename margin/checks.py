"""Pre-trade checks: the hook where every rule on a buy plugs in.

A check is a function ``BuyContext → reason code | None``. The service runs the checks
of its ``buy_checks`` tuple in order **inside the transaction that posts the buy**, after
the customer's accounts are locked and with the state *after* the trade already
evaluated, so two concurrent orders on one account are checked one after the other and
can never together breach a limit. The first check that returns a reason refuses the
buy: nothing is written and the reason code goes back to the caller (CLI exit 2, HTTP 422).

To add a rule (concentration, wash trades, eligibility …): write a check and pass
``MarginDesk(engine, buy_checks=(*DEFAULT_BUY_CHECKS, my_check))``. A check may read more
state through ``ctx.uow`` (the open unit of work); it must not write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from margin.customer import CustomerState
from margin.domain import BPS_PER_UNIT, Facility
from margin.engine import Book, Evaluation, initial_margin_ok, regime
from margin.repository import MarginUnitOfWork


@dataclass(frozen=True)
class BuyContext:
    """Everything a pre-trade check may look at, all as of inside the posting transaction."""

    uow: MarginUnitOfWork
    facility: Facility
    instrument: Any  # the instrument master row (kind, conversion rate, ADV, price …)
    instrument_id: int
    quantity: int
    price_minor: int
    cost_minor: int
    fee_minor: int
    draw_minor: int  # new loan the buy takes
    before: CustomerState
    after: CustomerState  # balances and positions if the buy goes through
    evaluation_after: Evaluation  # the engine on ``after`` at the last prices
    now_ns: int


PreTradeCheck = Callable[[BuyContext], str | None]


def initial_margin_check(ctx: BuyContext) -> str | None:
    """A financed buy must leave available margin ≥ 0 (cn: the exchange formula, 100 % ratio).

    These books do not yet record which position the loan financed, so the loan is spread
    over the positions by market value (every position treated as financed in proportion).
    """
    if not ctx.draw_minor:
        return None
    instruments = ctx.uow.margin.instruments()
    after = ctx.after
    ids = sorted(i for i, q in after.positions.items() if q > 0)
    prices = np.array([instruments[i].price_minor for i in ids], dtype=np.float64)
    conv = np.array([instruments[i].conversion_rate_bps / BPS_PER_UNIT for i in ids], dtype=np.float64)
    qty = np.array([after.positions[i] for i in ids], dtype=np.float64)
    mv = qty * prices
    share = mv / mv.sum() if mv.sum() > 0 else np.zeros_like(mv)
    book = Book(
        np.array([float(after.cash_minor)]),
        np.array([float(after.debt_minor)]),
        np.zeros(len(ids), dtype=np.int64),
        np.arange(len(ids)),
        qty,
        pos_financed_minor=share * after.loan_minor,
        interest_fees_minor=np.array([float(after.accrued_minor)]),
    )
    ok = bool(initial_margin_ok(book, prices, conv, regime(ctx.facility.regime))[0])
    return None if ok else "initial_margin_not_met"


def leverage_check(ctx: BuyContext) -> str | None:
    """A financed buy must keep gross exposure / equity within the facility's leverage cap."""
    mv = float(ctx.evaluation_after.market_value[0])
    equity = ctx.after.cash_minor + mv - ctx.after.debt_minor
    ok = equity > 0 and mv <= ctx.facility.max_leverage_bps / BPS_PER_UNIT * equity
    return None if not ctx.draw_minor or ok else "max_leverage_exceeded"


DEFAULT_BUY_CHECKS: tuple[PreTradeCheck, ...] = (initial_margin_check, leverage_check)


def first_refusal(checks: tuple[PreTradeCheck, ...], ctx: BuyContext) -> str | None:
    for check in checks:
        reason = check(ctx)
        if reason is not None:
            return reason
    return None
