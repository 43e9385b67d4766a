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
from margin.instruments import financing_refusal, spec_of
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


def eligibility_check(ctx: BuyContext) -> str | None:
    """Loan money buys only financed-purchase targets (融资买入标的; ``margin.instruments``);
    a buy paid in full with the customer's own cash (a collateral buy) is not restricted."""
    if not ctx.draw_minor:
        return None
    return financing_refusal(spec_of(ctx.instrument))


def initial_margin_check(ctx: BuyContext) -> str | None:
    """A financed buy must leave available margin ≥ 0 (cn: the exchange formula, 100 % ratio).

    Each position carries the loan money owed on it (draws of its buys less repayments from
    its sales, ``financed_by_instrument``), so gains count at the conversion rate and losses
    at 100 %; the grade's haircut add-on stored on the facility lowers every rate.
    """
    if not ctx.draw_minor:
        return None
    instruments = ctx.uow.margin.instruments()
    after = ctx.after
    ids = sorted(i for i, q in after.positions.items() if q > 0)
    financed_map = ctx.uow.margin.financed_by_instrument(ctx.facility.customer_id)
    financed_map[ctx.instrument_id] = financed_map.get(ctx.instrument_id, 0) + ctx.draw_minor
    prices = np.array([instruments[i].price_minor for i in ids], dtype=np.float64)
    conv = np.array([instruments[i].conversion_rate_bps / BPS_PER_UNIT for i in ids], dtype=np.float64)
    qty = np.array([after.positions[i] for i in ids], dtype=np.float64)
    book = Book(
        np.array([float(after.cash_minor)]),
        np.array([float(after.debt_minor)]),
        np.zeros(len(ids), dtype=np.int64),
        np.arange(len(ids)),
        qty,
        pos_financed_minor=_financed(ids, financed_map, qty * prices, after.loan_minor),
        interest_fees_minor=np.array([float(after.accrued_minor)]),
        haircut_addon=np.array([ctx.facility.haircut_addon_bps / BPS_PER_UNIT]),
    )
    ok = bool(initial_margin_ok(book, prices, conv, regime(ctx.facility.regime))[0])
    return None if ok else "initial_margin_not_met"


def _financed(ids: list[int], by_instrument: dict[int, int], mv: np.ndarray, loan_minor: int) -> np.ndarray:
    """Per held instrument: its financed amount, scaled so the rows sum to the loan outstanding
    (repayments by deposit are not tied to one instrument); by market value when none is known."""
    raw = np.array([float(by_instrument.get(i, 0)) for i in ids])
    base = raw if raw.sum() > 0 else mv
    return base * (loan_minor / base.sum()) if base.sum() > 0 else np.zeros(len(ids))


def leverage_check(ctx: BuyContext) -> str | None:
    """A financed buy must keep gross exposure / equity within the facility's leverage cap."""
    mv = float(ctx.evaluation_after.market_value[0])
    equity = ctx.after.cash_minor + mv - ctx.after.debt_minor
    ok = equity > 0 and mv <= ctx.facility.max_leverage_bps / BPS_PER_UNIT * equity
    return None if not ctx.draw_minor or ok else "max_leverage_exceeded"


DEFAULT_BUY_CHECKS: tuple[PreTradeCheck, ...] = (eligibility_check, initial_margin_check, leverage_check)


def first_refusal(checks: tuple[PreTradeCheck, ...], ctx: BuyContext) -> str | None:
    for check in checks:
        reason = check(ctx)
        if reason is not None:
            return reason
    return None
