"""The margin service: the operations the API, the CLI and the book simulation call.

Every operation is one unit of work (``margin.repository.run_margin``): lock the
customer's accounts, read the state, check the rules (the engine and the pre-trade
checks of ``margin.checks``), plan the transfers (``margin.planners``, pure) and post
them as one linked chain, so an operation happens completely or not at all. Transfer ids
derive from the caller's operation id, so a retry after a timeout finds its transfers
already there and moves nothing again.

Books per customer (``margin.chart``): cash, margin loan, accrued interest, the credit
line memo, one securities account per instrument. The ledger itself refuses an overdraft
of cash, a draw past the line, a sale of shares not held, a repayment past the loan; the
engine and the checks add the regime's initial-margin, leverage and withdrawal rules.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import Engine

from creditdesk.business_time import BusinessClock
from creditdesk.errors import InputError
from ledger.domain import SUCCESS_RESULTS, Transfer
from ledger.service import create_accounts_in, create_transfers_in
from margin.chart import (
    clearing_securities_account,
    currency_ledger,
    customer_accounts,
    platform_accounts,
    position_account,
)
from margin.checks import DEFAULT_BUY_CHECKS, BuyContext, PreTradeCheck, first_refusal
from margin.customer import CustomerState, customer_state, evaluate_state, margin_view
from margin.domain import (
    BPS_PER_UNIT,
    DEFAULT_LEVERAGE_BPS,
    MAX_ANNUAL_RATE_BPS,
    MAX_CUSTOMER_ID_INCLUSIVE,
    MAX_LEVERAGE_BPS,
    MIN_LEVERAGE_BPS,
    Facility,
    MarginView,
    MarkResult,
    OperationResult,
    instrument_checked,
    op_id_checked,
    positive,
    trade_value_minor,
)
from margin.engine import regime
from margin.eod import yyyymmdd
from margin.instruments import master_row
from margin.interest import accrue_in, accrue_through_in, write_off_in
from margin.planners import (
    plan_buy,
    plan_cash_flow,
    plan_fee,
    plan_line_grant,
    plan_sell,
    trade_leg_ids,
)
from margin.posting import facility_of, post_chain, replayed
from margin.repository import MarginUnitOfWork, run_margin


class MarginDesk:
    """Margin facilities over the ledger in one service database.

    ``buy_checks`` are the pre-trade checks run inside each buy's transaction (see
    ``margin.checks``); by default the margin rules and then the risk controls
    (``margin.risk_checks``: volatility freeze, review leverage cut, round trip,
    concentration). ``clock`` returns nanoseconds since the epoch (tests pass a fake).
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], int] = time.time_ns,
        buy_checks: tuple[PreTradeCheck, ...] | None = None,
    ) -> None:
        from margin.risk_checks import risk_buy_checks

        self.engine = engine
        self.clock = clock
        self.buy_checks = buy_checks if buy_checks is not None else (*DEFAULT_BUY_CHECKS, *risk_buy_checks())
        self._marker: Any = None  # margin.marking.BookMarker, made on the first mark

    def at(self, at_ns: int) -> MarginDesk:
        """This desk at an explicit business time (``--at`` / ``at``): same database and checks."""
        return MarginDesk(self.engine, BusinessClock(at_ns), self.buy_checks)

    # ---- reference data ---------------------------------------------------------------------
    def upsert_instrument(
        self,
        instrument_id: int,
        symbol: str,
        kind: str,
        price_minor: int,
        adv_shares: int = 1_000_000,
        volatility_bps: int = 200,
        **master: Any,
    ) -> None:
        """Add or update an instrument of the master; its conversion rate and financed-purchase
        eligibility follow the rule table (``margin.instruments``) from its kind, board,
        static P/E and flags (``master``: board, static_pe, index_constituent,
        eligible_for_financing, eligible_as_collateral, conversion_rate)."""
        instrument_checked(instrument_id)
        positive(price_minor, "price_minor")
        row = {
            "symbol": symbol,
            **master_row({"kind": kind, **master}),
            "adv_shares": max(int(adv_shares), 0),
            "volatility_bps": max(int(volatility_bps), 0),
            "price_minor": price_minor,
            "price_as_of_ns": self.clock(),
        }
        run_margin(self.engine, lambda uow: uow.margin.upsert_instrument(instrument_id, row))

    # ---- facility ------------------------------------------------------------------------------
    def open_facility(
        self,
        customer_id: int,
        decision_id: str,
        line_minor: int,
        annual_rate_bps: int,
        max_leverage_bps: int = DEFAULT_LEVERAGE_BPS,
        regime_name: str = "cn",
        currency: str = "CNY",
        haircut_addon_bps: int = 0,
    ) -> Facility:
        """Open a facility on given terms (idempotent per customer and decision).

        The primitive under ``margin.opening.open_from_decision``, which the CLI and the API
        call: they never pass terms themselves. Tests and simulations use it directly.
        """
        positive(customer_id, "customer_id", MAX_CUSTOMER_ID_INCLUSIVE)
        positive(line_minor, "line_minor")
        positive(annual_rate_bps, "annual_rate_bps", MAX_ANNUAL_RATE_BPS)
        if not MIN_LEVERAGE_BPS <= max_leverage_bps <= MAX_LEVERAGE_BPS:
            raise InputError(
                f"max_leverage_bps must be between {MIN_LEVERAGE_BPS} (1x) and {MAX_LEVERAGE_BPS} (10x)",
                field="max_leverage_bps",
            )
        regime(regime_name)
        op_id_checked(decision_id, "decision_id")
        if not 0 <= haircut_addon_bps < BPS_PER_UNIT:
            raise InputError("haircut_addon_bps must be in [0, 10000)", field="haircut_addon_bps")
        wanted = Facility(
            customer_id,
            decision_id,
            currency_ledger(currency),
            line_minor,
            annual_rate_bps,
            max_leverage_bps,
            regime_name,
            "open",
            haircut_addon_bps=haircut_addon_bps,
        )

        def work(uow: MarginUnitOfWork) -> Facility:
            fac, _created = self.open_facility_in(uow, wanted)
            if fac.decision_id != decision_id:
                raise InputError(
                    f"customer {customer_id} already has a facility from decision {fac.decision_id}",
                    field="customer_id",
                )
            return fac

        return run_margin(self.engine, work)

    def open_facility_in(self, uow: MarginUnitOfWork, facility: Facility) -> tuple[Facility, bool]:
        """Open ``facility`` inside ``uow``: (the facility, whether this call created it).

        Callers validate the terms first (``margin.opening``); an existing facility of the
        customer is returned as it is (the caller decides whether its terms conflict).
        """
        existing = uow.margin.facility(facility.customer_id)
        if existing is not None:
            return existing, False
        now = self.clock()
        cash = facility.currency_ledger
        create_accounts_in(
            uow.ledger, [*platform_accounts(cash), *customer_accounts(facility.customer_id, cash)], now
        )
        result = create_transfers_in(uow.ledger, [plan_line_grant(facility)], now)
        if result[0] not in SUCCESS_RESULTS:
            raise AssertionError(f"granting the line failed: {result[0]}")
        opened = replace(facility, opened_at_ns=now)
        uow.margin.add_facility(opened)
        return opened, True

    # ---- cash ------------------------------------------------------------------------------------
    def deposit(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        return self._cash_operation(customer_id, op_id, amount_minor, partial(plan_cash_flow, deposit=True))

    def withdraw(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        """Cash out, only within what the regime lets leave (cn: ratio stays ≥ 300 %)."""

        def refusal(uow: MarginUnitOfWork, fac: Facility, t: Transfer) -> OperationResult | None:
            if uow.ledger.load_transfers([t.id]):  # a retry: let the ledger answer "exists"
                allowed = amount_minor
            else:
                state = customer_state(uow, customer_id, uow.lock_customer(customer_id))
                allowed = int(evaluate_state(state, fac, uow.margin.instruments()).withdrawable_minor[0])
            if amount_minor > allowed:
                return OperationResult(op_id, False, "withdrawal_rule", [], {"withdrawable_minor": allowed})
            return None

        plan = partial(plan_cash_flow, deposit=False)
        return self._cash_operation(customer_id, op_id, amount_minor, plan, refusal)

    def charge_fee(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        """A fee owed by the customer, added to the debt (paid by the next sale or cash)."""
        return self._cash_operation(customer_id, op_id, amount_minor, plan_fee)

    def _cash_operation(
        self,
        customer_id: int,
        op_id: str,
        amount_minor: int,
        plan: Callable[[int, int, str, int], Transfer],
        refusal: Callable[[MarginUnitOfWork, Facility, Transfer], OperationResult | None] | None = None,
    ) -> OperationResult:
        """The one skeleton of a single-transfer cash operation, so deposit, withdrawal and fee
        validate, plan and post alike: check the inputs, then in one unit of work find the
        facility, plan the transfer, let ``refusal`` (if any) refuse it, and post it."""
        positive(amount_minor, "amount_minor")
        op_id_checked(op_id)

        def work(uow: MarginUnitOfWork) -> OperationResult:
            fac = facility_of(uow, customer_id, self.clock())
            t = plan(customer_id, fac.currency_ledger, op_id, amount_minor)
            refused = refusal(uow, fac, t) if refusal is not None else None
            if refused is not None:
                return refused
            return post_chain(uow, op_id, [t], {"amount_minor": amount_minor}, self.clock())

        return run_margin(self.engine, work)

    # ---- trades ----------------------------------------------------------------------------------
    def buy(
        self,
        customer_id: int,
        op_id: str,
        instrument_id: int,
        quantity: int,
        price_minor: int,
        fee_minor: int = 0,
    ) -> OperationResult:
        """Buy on margin: the pre-trade checks, then line use, loan draw, cash, fee, shares — one chain."""
        cost = trade_value_minor(op_id, instrument_id, quantity, price_minor, fee_minor)

        def work(uow: MarginUnitOfWork) -> OperationResult:
            fac = facility_of(uow, customer_id, self.clock())
            ids = trade_leg_ids("buy", customer_id, op_id, 5)
            again = replayed(uow, op_id, ids, (ids[2], cost), (ids[4], quantity))
            if again is not None:
                return again
            before = customer_state(uow, customer_id, uow.lock_customer(customer_id, [instrument_id]))
            instruments = uow.margin.instruments()
            if instrument_id not in instruments:
                raise InputError(f"instrument {instrument_id} is not registered", field="instrument_id")
            draw = max(cost + fee_minor - before.cash_minor, 0)
            positions = dict(before.positions)
            positions[instrument_id] = positions.get(instrument_id, 0) + quantity
            after = CustomerState(
                before.cash_minor + draw - cost - fee_minor,
                before.loan_minor + draw,
                before.accrued_minor,
                positions,
            )
            now = self.clock()
            ctx = BuyContext(
                uow,
                fac,
                instruments[instrument_id],
                instrument_id,
                quantity,
                price_minor,
                cost,
                fee_minor,
                draw,
                before,
                after,
                evaluate_state(after, fac, instruments),
                now,
            )
            details = {"loan_draw_minor": draw, "cost_minor": cost, "fee_minor": fee_minor}
            reason = first_refusal(self.buy_checks, ctx)
            if reason is not None:
                return OperationResult(op_id, False, reason, [], details)
            create_accounts_in(
                uow.ledger,
                [position_account(customer_id, instrument_id), clearing_securities_account(instrument_id)],
                now,
            )
            plan = plan_buy(
                customer_id, fac.currency_ledger, op_id, instrument_id, quantity, cost, fee_minor, draw
            )
            return post_chain(uow, op_id, plan.transfers, details, now)

        return run_margin(self.engine, work)

    def sell(
        self,
        customer_id: int,
        op_id: str,
        instrument_id: int,
        quantity: int,
        price_minor: int,
        fee_minor: int = 0,
        liquidation: bool = False,
    ) -> OperationResult:
        """Sell; proceeds repay accrued interest, then the loan (releasing the line), the rest is cash."""
        gross = trade_value_minor(op_id, instrument_id, quantity, price_minor, fee_minor)
        if fee_minor > gross:
            raise InputError("fee_minor must not exceed the sale value", field="fee_minor")
        kind = "liquidate" if liquidation else "sell"

        def work(uow: MarginUnitOfWork) -> OperationResult:
            fac = facility_of(uow, customer_id, self.clock())
            ids = trade_leg_ids(kind, customer_id, op_id, 6)
            again = replayed(uow, op_id, ids, (ids[1], gross), (ids[0], quantity))
            if again is not None:
                return again
            state = customer_state(uow, customer_id, uow.lock_customer(customer_id, [instrument_id]))
            plan = plan_sell(
                customer_id,
                fac.currency_ledger,
                op_id,
                instrument_id,
                quantity,
                gross,
                fee_minor,
                state.loan_minor,
                state.accrued_minor,
                liquidation,
            )
            details = {
                "gross_minor": gross,
                "interest_repaid_minor": plan.interest_repaid_minor,
                "loan_repaid_minor": plan.loan_repaid_minor,
            }
            return post_chain(uow, op_id, plan.transfers, details, self.clock())

        return run_margin(self.engine, work)

    # ---- interest and losses -------------------------------------------------------------------------
    def accrue_interest(self, day: dt.date, customer_ids: Sequence[int] | None = None) -> int:
        """Post one day's interest on every open loan; idempotent per customer and day."""
        return run_margin(self.engine, lambda uow: accrue_in(uow, yyyymmdd(day), customer_ids, self.clock))

    def accrue_through(self, through: dt.date, customer_ids: Sequence[int] | None = None) -> int:
        """Post interest for every calendar day since each loan's last accrual through ``through``
        (ACT/360, weekends and holidays included); idempotent per loan and day."""
        return run_margin(self.engine, lambda uow: accrue_through_in(uow, through, customer_ids, self.clock))

    def write_off(self, customer_id: int, op_id: str) -> OperationResult:
        """After every position is sold: cash pays what it can, the rest of the debt is a loss."""
        op_id_checked(op_id)
        return run_margin(self.engine, lambda uow: write_off_in(uow, customer_id, op_id, self.clock()))

    # ---- views and marking ------------------------------------------------------------------------------
    def margin(self, customer_id: int) -> MarginView:
        """The customer's margin position at the last prices (``GET /v1/accounts/{id}/margin``)."""
        return run_margin(self.engine, lambda uow: margin_view(uow, facility_of(uow, customer_id)))

    def mark_to_market(self, prices_minor: dict[int, int], call_days: int | None = None) -> MarkResult:
        """New prices → every open facility re-evaluated by the engine at once (``margin.marking``).

        The desk keeps one ``BookMarker``: the book stays in memory between calls and is
        advanced by the ledger transfers committed since the last one.
        """
        from margin.marking import BookMarker, as_result

        if self._marker is None:
            self._marker = BookMarker(self.engine)
        return as_result(self._marker.tick(prices_minor, self.clock(), call_days))

    def close_call(self, customer_id: int, status: str = "liquidated") -> None:
        """Record the outcome of a call handed to liquidation."""
        run_margin(self.engine, lambda uow: uow.margin.close_customer_call(customer_id, status, self.clock()))
