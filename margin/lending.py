"""Margin-lending operations on the ledger: the service the API and the CLI call.

Every operation is one database transaction (a unit of work): it locks the customer's
accounts, checks the margin rules with the engine, and posts its transfers as one linked
chain, so an operation happens completely or not at all. Transfer ids derive from the
caller's operation id (``op_id``), so retrying an operation after a timeout is safe: the
retry finds its transfers already there (``exists``) and moves nothing again.

Books per customer (see ``ledger.chart``): cash, margin loan, accrued interest, the credit
line memo, one securities account per instrument. The ledger itself refuses an overdraft
of cash, a draw past the line, a sale of shares not held, a repayment past the loan; the
engine adds the regime's initial-margin and withdrawal rules on top.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select, update

from creditdesk.errors import InputError
from ledger.chart import (
    Code,
    TransferCode,
    clearing_securities_account,
    currency_ledger,
    customer_account,
    customer_accounts,
    memo_ledger,
    operation_transfer_id,
    platform_account,
    platform_accounts,
    position_account,
)
from ledger.domain import MAX_INT64, Account, Transfer, TransferFlags, TransferResult
from ledger.repository import SqlLedgerRepository
from ledger.service import create_accounts_in, create_transfers_in
from ledger.storage import accounts as accounts_table
from ledger.unit_of_work import SqlUnitOfWork, run_in_transaction
from margin.engine import (
    CONVERSION_RATE_BY_KIND,
    Book,
    Evaluation,
    Status,
    evaluate,
    initial_margin_ok,
    regime,
)
from margin.storage import facilities, instruments, margin_calls

NS_PER_DAY = 86_400 * 10**9
LINKED = int(TransferFlags.LINKED)


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


def _positive(value: int, name: str, limit: int = MAX_INT64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InputError(f"{name} must be a positive integer ≤ {limit}", field=name)
    return value


def _op_id(op_id: str) -> str:
    if not isinstance(op_id, str) or not 0 < len(op_id) <= 64 or not op_id.isprintable():
        raise InputError("op_id must be a printable string of 1 to 64 characters", field="op_id")
    return op_id


def _balance(acct: Account | None) -> int:
    return 0 if acct is None else acct.credits_posted - acct.debits_posted


def _debit_balance(acct: Account | None) -> int:
    return 0 if acct is None else acct.debits_posted - acct.credits_posted


def _trade_value_minor(
    op_id: str, instrument_id: int, quantity: int, price_minor: int, fee_minor: int
) -> int:
    """Check a trade's inputs (buy and sell alike) and return quantity × price in minor units."""
    _positive(quantity, "quantity")
    _positive(price_minor, "price_minor")
    _positive(instrument_id, "instrument_id", 999_999)
    _op_id(op_id)
    if fee_minor < 0:
        raise InputError("fee_minor must be ≥ 0", field="fee_minor")
    value = quantity * price_minor
    _positive(value, "quantity × price_minor")
    return value


class MarginDesk:
    """Margin facilities over the ledger in one service database."""

    def __init__(self, engine: Engine, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    # ---- reference data -------------------------------------------------------------------
    def upsert_instrument(
        self,
        instrument_id: int,
        symbol: str,
        kind: str,
        price_minor: int,
        adv_shares: int = 1_000_000,
        volatility_bps: int = 200,
    ) -> None:
        """Add or update an instrument; its conversion rate follows its kind (DESIGN haircuts)."""
        _positive(instrument_id, "instrument_id", 999_999)
        _positive(price_minor, "price_minor")
        if kind not in CONVERSION_RATE_BY_KIND:
            raise InputError(f"kind must be one of {sorted(CONVERSION_RATE_BY_KIND)}", field="kind")
        row = {
            "symbol": symbol,
            "kind": kind,
            "conversion_rate_bps": round(CONVERSION_RATE_BY_KIND[kind] * 10_000),
            "adv_shares": max(int(adv_shares), 0),
            "volatility_bps": max(int(volatility_bps), 0),
            "price_minor": price_minor,
            "price_as_of_ns": self.clock(),
        }

        def work(uow: SqlUnitOfWork) -> None:
            conn = uow.connection
            found = conn.execute(
                select(instruments.c.instrument_id).where(instruments.c.instrument_id == instrument_id)
            ).first()
            if found:
                conn.execute(
                    update(instruments).where(instruments.c.instrument_id == instrument_id).values(**row)
                )
            else:
                conn.execute(insert(instruments).values(instrument_id=instrument_id, **row))

        run_in_transaction(self.engine, work)

    def _instruments(self, uow: SqlUnitOfWork) -> dict[int, Any]:
        return {r.instrument_id: r for r in uow.connection.execute(select(instruments))}

    def _facility(self, uow: SqlUnitOfWork, customer_id: int) -> Facility:
        row = uow.connection.execute(
            select(facilities).where(facilities.c.customer_id == customer_id)
        ).first()
        if row is None:
            raise InputError(f"customer {customer_id} has no margin facility", field="customer_id")
        return Facility(**row._mapping)

    # ---- facility ---------------------------------------------------------------------------
    def open_facility(
        self,
        customer_id: int,
        decision_id: str,
        line_minor: int,
        annual_rate_bps: int,
        max_leverage_bps: int = 20_000,
        regime_name: str = "cn",
        currency: str = "CNY",
    ) -> Facility:
        """Open the accounts and grant the line of an approved decision (idempotent per customer)."""
        _positive(customer_id, "customer_id", 89_999_999_999)
        _positive(line_minor, "line_minor")
        _positive(annual_rate_bps, "annual_rate_bps", 10_000)
        if not 10_000 <= max_leverage_bps <= 100_000:
            raise InputError(
                "max_leverage_bps must be between 10000 (1x) and 100000 (10x)", field="max_leverage_bps"
            )
        regime(regime_name)
        _op_id(decision_id)
        cash = currency_ledger(currency)
        facility = Facility(
            customer_id, decision_id, cash, line_minor, annual_rate_bps, max_leverage_bps, regime_name, "open"
        )

        def work(uow: SqlUnitOfWork) -> Facility:
            conn = uow.connection
            existing = conn.execute(select(facilities).where(facilities.c.customer_id == customer_id)).first()
            if existing is not None:
                stored = Facility(**existing._mapping)
                if stored.decision_id != decision_id:
                    raise InputError(
                        f"customer {customer_id} already has a facility from decision {stored.decision_id}",
                        field="customer_id",
                    )
                return stored
            now = self.clock()
            create_accounts_in(
                uow.ledger, [*platform_accounts(cash), *customer_accounts(customer_id, cash)], now
            )
            grant = Transfer(
                operation_transfer_id("line", customer_id, decision_id),
                platform_account(Code.LINE_CONTROL, cash),
                customer_account(customer_id, Code.CREDIT_LINE),
                line_minor,
                memo_ledger(cash),
                int(TransferCode.LINE_GRANT),
            )
            result = create_transfers_in(uow.ledger, [grant], now)
            if result[0] not in (TransferResult.OK, TransferResult.EXISTS):
                raise AssertionError(f"granting the line failed: {result[0]}")
            opened = replace(facility, opened_at_ns=now)
            conn.execute(insert(facilities).values(**opened.__dict__))
            return opened

        return run_in_transaction(self.engine, work)

    # ---- helpers ------------------------------------------------------------------------------
    def _lock_customer(
        self, uow: SqlUnitOfWork, customer_id: int, instrument_ids: Sequence[int] = ()
    ) -> dict[int, Account]:
        ids = [
            customer_account(customer_id, c)
            for c in (Code.CUSTOMER_CASH, Code.MARGIN_LOAN, Code.ACCRUED_INTEREST, Code.CREDIT_LINE)
        ]
        ids += [customer_account(customer_id, Code.SECURITIES, i) for i in instrument_ids]
        return uow.ledger.load_accounts(ids, for_update=True)

    def _positions(self, repo: SqlLedgerRepository, customer_id: int) -> dict[int, int]:
        lo = customer_account(customer_id, Code.SECURITIES, 0)
        rows = repo.conn.execute(
            select(
                accounts_table.c.id, accounts_table.c.debits_posted, accounts_table.c.credits_posted
            ).where(accounts_table.c.id.between(lo, lo + 999_999))
        )
        return {
            r.id - lo: r.debits_posted - r.credits_posted for r in rows if r.debits_posted != r.credits_posted
        }

    def _evaluate_one(
        self,
        uow: SqlUnitOfWork,
        fac: Facility,
        locked: dict[int, Account],
        extra: dict[str, float] | None = None,
    ) -> tuple[Evaluation, dict[int, int], float, float, float]:
        """Evaluate the customer now or after a hypothetical change (cash, debt, instrument, quantity)."""
        cid = fac.customer_id
        cash = _balance(locked.get(customer_account(cid, Code.CUSTOMER_CASH)))
        loan = _debit_balance(locked.get(customer_account(cid, Code.MARGIN_LOAN)))
        accrued = _debit_balance(locked.get(customer_account(cid, Code.ACCRUED_INTEREST)))
        positions = self._positions(uow.ledger, cid)
        extra = extra or {}
        if extra.get("instrument"):
            iid = int(extra["instrument"])
            positions[iid] = positions.get(iid, 0) + int(extra.get("quantity", 0))
        inst = self._instruments(uow)
        ids = sorted(i for i, q in positions.items() if q > 0)
        missing = [i for i in ids if i not in inst]
        if missing:
            raise InputError(
                f"instrument {missing[0]} has no price: register it first", field="instrument_id"
            )
        prices = np.array([inst[i].price_minor for i in ids], dtype=np.float64)
        conv = np.array([inst[i].conversion_rate_bps / 1e4 for i in ids], dtype=np.float64)
        c = cash + extra.get("cash", 0.0)
        d = loan + accrued + extra.get("debt", 0.0)
        book = Book(
            np.array([c]),
            np.array([float(d)]),
            np.zeros(len(ids), dtype=np.int64),
            np.arange(len(ids)),
            np.array([positions[i] for i in ids], dtype=np.float64),
        )
        return (
            evaluate(book, prices, conv, regime(fac.regime)),
            positions,
            float(c),
            float(loan),
            float(accrued),
        )

    def _post(
        self, uow: SqlUnitOfWork, op_id: str, batch: list[Transfer], details: dict[str, Any]
    ) -> OperationResult:
        batch = [_linked(t) if i < len(batch) - 1 else t for i, t in enumerate(batch)]
        results = create_transfers_in(uow.ledger, batch, self.clock())
        pairs = [(t.id, r.value) for t, r in zip(batch, results, strict=True)]
        failed = [r for r in results if r not in (TransferResult.OK, TransferResult.EXISTS)]
        if failed:
            reason = next(
                (r.value for r in failed if r != TransferResult.LINKED_EVENT_FAILED), failed[0].value
            )
            return OperationResult(op_id, False, reason, pairs, details)
        return OperationResult(op_id, True, "ok", pairs, details)

    def _replayed(
        self, uow: SqlUnitOfWork, op_id: str, ids: list[int], *expected: tuple[int, int]
    ) -> OperationResult | None:
        """A retried trade: its transfers are stored; same trade → ok, other amounts → refused."""
        stored = uow.ledger.load_transfers(ids)
        if not stored:
            return None
        for tid, amount in expected:
            if tid not in stored or stored[tid].amount_minor != amount:
                return OperationResult(op_id, False, "exists_with_different_body", [], {})
        return OperationResult(
            op_id, True, "ok", [(i, "exists") for i in ids if i in stored], {"replayed": True}
        )

    # ---- operations -------------------------------------------------------------------------
    def deposit(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        _positive(amount_minor, "amount_minor")
        _op_id(op_id)

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            t = Transfer(
                operation_transfer_id("deposit", customer_id, op_id),
                platform_account(Code.FUNDING, fac.currency_ledger),
                customer_account(customer_id, Code.CUSTOMER_CASH),
                amount_minor,
                fac.currency_ledger,
                int(TransferCode.DEPOSIT),
            )
            return self._post(uow, op_id, [t], {"amount_minor": amount_minor})

        return run_in_transaction(self.engine, work)

    def withdraw(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        """Cash out, only within what the regime lets leave (cn: ratio stays ≥ 300 %)."""
        _positive(amount_minor, "amount_minor")
        _op_id(op_id)

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            tid = operation_transfer_id("withdraw", customer_id, op_id)
            if uow.ledger.load_transfers([tid]):  # a retry: let the ledger answer "exists"
                allowed = amount_minor
            else:
                locked = self._lock_customer(uow, customer_id)
                ev, *_ = self._evaluate_one(uow, fac, locked)
                allowed = int(ev.withdrawable_minor[0])
            if amount_minor > allowed:
                return OperationResult(op_id, False, "withdrawal_rule", [], {"withdrawable_minor": allowed})
            t = Transfer(
                tid,
                customer_account(customer_id, Code.CUSTOMER_CASH),
                platform_account(Code.FUNDING, fac.currency_ledger),
                amount_minor,
                fac.currency_ledger,
                int(TransferCode.WITHDRAWAL),
            )
            return self._post(uow, op_id, [t], {"amount_minor": amount_minor})

        return run_in_transaction(self.engine, work)

    def buy(
        self,
        customer_id: int,
        op_id: str,
        instrument_id: int,
        quantity: int,
        price_minor: int,
        fee_minor: int = 0,
    ) -> OperationResult:
        """Buy on margin: line use, loan draw, cash to clearing, fee, shares in — one linked chain."""
        cost = _trade_value_minor(op_id, instrument_id, quantity, price_minor, fee_minor)

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            cash_l = fac.currency_ledger
            ids = [operation_transfer_id("buy", customer_id, op_id, k) for k in range(5)]
            replayed = self._replayed(uow, op_id, ids, (ids[2], cost), (ids[4], quantity))
            if replayed is not None:
                return replayed
            locked = self._lock_customer(uow, customer_id, [instrument_id])
            cash = _balance(locked.get(customer_account(customer_id, Code.CUSTOMER_CASH)))
            draw = max(cost + fee_minor - cash, 0)
            inst = self._instruments(uow).get(instrument_id)
            if inst is None:
                raise InputError(f"instrument {instrument_id} is not registered", field="instrument_id")
            ev, _pos, c_after, loan, accrued = self._evaluate_one(
                uow,
                fac,
                locked,
                {
                    "cash": draw - cost - fee_minor,
                    "debt": draw,
                    "instrument": instrument_id,
                    "quantity": quantity,
                },
            )
            debt_after = loan + accrued + draw
            ok = _initial_margin_after(self._instruments(uow), _pos, c_after, loan + draw, accrued, fac)
            equity = c_after + ev.market_value[0] - debt_after
            leverage_ok = equity > 0 and ev.market_value[0] <= fac.max_leverage_bps / 1e4 * equity
            details = {"loan_draw_minor": draw, "cost_minor": cost, "fee_minor": fee_minor}
            if draw and not ok:
                return OperationResult(op_id, False, "initial_margin_not_met", [], details)
            if draw and not leverage_ok:
                return OperationResult(op_id, False, "max_leverage_exceeded", [], details)
            create_accounts_in(
                uow.ledger,
                [position_account(customer_id, instrument_id), clearing_securities_account(instrument_id)],
                self.clock(),
            )
            batch: list[Transfer] = []
            if draw:
                batch.append(
                    Transfer(
                        ids[0],
                        customer_account(customer_id, Code.CREDIT_LINE),
                        platform_account(Code.LINE_CONTROL, cash_l),
                        draw,
                        memo_ledger(cash_l),
                        int(TransferCode.LINE_USE),
                    )
                )
                batch.append(
                    Transfer(
                        ids[1],
                        customer_account(customer_id, Code.MARGIN_LOAN),
                        customer_account(customer_id, Code.CUSTOMER_CASH),
                        draw,
                        cash_l,
                        int(TransferCode.LOAN_DRAW),
                    )
                )
            batch.append(
                Transfer(
                    ids[2],
                    customer_account(customer_id, Code.CUSTOMER_CASH),
                    platform_account(Code.CLEARING_CASH, cash_l),
                    cost,
                    cash_l,
                    int(TransferCode.TRADE_CASH),
                )
            )
            if fee_minor:
                batch.append(
                    Transfer(
                        ids[3],
                        customer_account(customer_id, Code.CUSTOMER_CASH),
                        platform_account(Code.FEE_INCOME, cash_l),
                        fee_minor,
                        cash_l,
                        int(TransferCode.FEE),
                    )
                )
            batch.append(
                Transfer(
                    ids[4],
                    customer_account(customer_id, Code.SECURITIES, instrument_id),
                    clearing_securities_account(instrument_id).id,
                    quantity,
                    clearing_securities_account(instrument_id).ledger,
                    int(TransferCode.TRADE_SECURITIES),
                )
            )
            return self._post(uow, op_id, batch, details)

        return run_in_transaction(self.engine, work)

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
        gross = _trade_value_minor(op_id, instrument_id, quantity, price_minor, fee_minor)
        if fee_minor > gross:
            raise InputError("fee_minor must not exceed the sale value", field="fee_minor")
        kind = "liquidate" if liquidation else "sell"

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            cash_l = fac.currency_ledger
            ids = [operation_transfer_id(kind, customer_id, op_id, k) for k in range(6)]
            replayed = self._replayed(uow, op_id, ids, (ids[1], gross), (ids[0], quantity))
            if replayed is not None:
                return replayed
            locked = self._lock_customer(uow, customer_id, [instrument_id])
            loan = _debit_balance(locked.get(customer_account(customer_id, Code.MARGIN_LOAN)))
            accrued = _debit_balance(locked.get(customer_account(customer_id, Code.ACCRUED_INTEREST)))
            net = gross - fee_minor
            pay_interest = min(accrued, net)
            pay_loan = min(loan, net - pay_interest)
            sec = clearing_securities_account(instrument_id)
            code_cash = TransferCode.LIQUIDATION_CASH if liquidation else TransferCode.TRADE_CASH
            code_sec = TransferCode.LIQUIDATION_SECURITIES if liquidation else TransferCode.TRADE_SECURITIES
            cash_acct = customer_account(customer_id, Code.CUSTOMER_CASH)
            batch = [
                Transfer(
                    ids[0],
                    sec.id,
                    customer_account(customer_id, Code.SECURITIES, instrument_id),
                    quantity,
                    sec.ledger,
                    int(code_sec),
                ),
                Transfer(
                    ids[1],
                    platform_account(Code.CLEARING_CASH, cash_l),
                    cash_acct,
                    gross,
                    cash_l,
                    int(code_cash),
                ),
            ]
            if fee_minor:
                batch.append(
                    Transfer(
                        ids[2],
                        cash_acct,
                        platform_account(Code.FEE_INCOME, cash_l),
                        fee_minor,
                        cash_l,
                        int(TransferCode.FEE),
                    )
                )
            if pay_interest:
                batch.append(
                    Transfer(
                        ids[3],
                        cash_acct,
                        customer_account(customer_id, Code.ACCRUED_INTEREST),
                        pay_interest,
                        cash_l,
                        int(TransferCode.INTEREST_PAYMENT),
                    )
                )
            if pay_loan:
                batch.append(
                    Transfer(
                        ids[4],
                        cash_acct,
                        customer_account(customer_id, Code.MARGIN_LOAN),
                        pay_loan,
                        cash_l,
                        int(TransferCode.LOAN_REPAY),
                    )
                )
                batch.append(
                    Transfer(
                        ids[5],
                        platform_account(Code.LINE_CONTROL, cash_l),
                        customer_account(customer_id, Code.CREDIT_LINE),
                        pay_loan,
                        memo_ledger(cash_l),
                        int(TransferCode.LINE_RELEASE),
                    )
                )
            details = {
                "gross_minor": gross,
                "interest_repaid_minor": pay_interest,
                "loan_repaid_minor": pay_loan,
            }
            return self._post(uow, op_id, batch, details)

        return run_in_transaction(self.engine, work)

    def charge_fee(self, customer_id: int, op_id: str, amount_minor: int) -> OperationResult:
        """A fee owed by the customer: paid from cash, or added to the debt if cash is short."""
        _positive(amount_minor, "amount_minor")
        _op_id(op_id)

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            t = Transfer(
                operation_transfer_id("fee", customer_id, op_id),
                customer_account(customer_id, Code.ACCRUED_INTEREST),
                platform_account(Code.FEE_INCOME, fac.currency_ledger),
                amount_minor,
                fac.currency_ledger,
                int(TransferCode.FEE),
            )
            return self._post(uow, op_id, [t], {"amount_minor": amount_minor})

        return run_in_transaction(self.engine, work)

    def accrue_interest(self, day: dt.date, customer_ids: Sequence[int] | None = None) -> int:
        """Post one day's interest on every open loan; idempotent per customer and day.

        interest = loan × rate / days-in-year (365 for CNY, 360 for USD), rounded half up to
        the minor unit and at least 1 when anything is owed, so a loan never accrues nothing.
        """
        yyyymmdd = day.year * 10_000 + day.month * 100 + day.day

        def work(uow: SqlUnitOfWork) -> int:
            q = select(facilities).where(facilities.c.status == "open")
            if customer_ids is not None:
                q = q.where(facilities.c.customer_id.in_(list(customer_ids)))
            facs = [Facility(**r._mapping) for r in uow.connection.execute(q)]
            loans = uow.ledger.load_accounts(
                [customer_account(f.customer_id, Code.MARGIN_LOAN) for f in facs]
            )
            batch = []
            for f in facs:
                principal = _debit_balance(loans.get(customer_account(f.customer_id, Code.MARGIN_LOAN)))
                if principal <= 0:
                    continue
                basis = 360 if f.currency_ledger == 840 else 365
                amount = max((2 * principal * f.annual_rate_bps + basis * 10_000) // (2 * basis * 10_000), 1)
                batch.append(
                    Transfer(
                        operation_transfer_id("interest", f.customer_id, yyyymmdd),
                        customer_account(f.customer_id, Code.ACCRUED_INTEREST),
                        platform_account(Code.INTEREST_INCOME, f.currency_ledger),
                        amount,
                        f.currency_ledger,
                        int(TransferCode.INTEREST_ACCRUAL),
                        user_data=yyyymmdd,
                    )
                )
            posted = 0
            for i in range(0, len(batch), 8_000):
                results = create_transfers_in(uow.ledger, batch[i : i + 8_000], self.clock())
                bad = [r for r in results if r not in (TransferResult.OK, TransferResult.EXISTS)]
                if bad:
                    raise AssertionError(f"interest accrual refused: {bad[0]}")
                posted += sum(r == TransferResult.OK for r in results)
            return posted

        return run_in_transaction(self.engine, work)

    def write_off(self, customer_id: int, op_id: str) -> OperationResult:
        """After every position is sold: cash pays what it can, the rest of the debt is a loss."""
        _op_id(op_id)

        def work(uow: SqlUnitOfWork) -> OperationResult:
            fac = self._facility(uow, customer_id)
            cash_l = fac.currency_ledger
            locked = self._lock_customer(uow, customer_id)
            if any(q > 0 for q in self._positions(uow.ledger, customer_id).values()):
                raise InputError("sell or liquidate every position before writing off", field="customer_id")
            cash = _balance(locked.get(customer_account(customer_id, Code.CUSTOMER_CASH)))
            loan = _debit_balance(locked.get(customer_account(customer_id, Code.MARGIN_LOAN)))
            accrued = _debit_balance(locked.get(customer_account(customer_id, Code.ACCRUED_INTEREST)))
            ids = [operation_transfer_id("writeoff", customer_id, op_id, k) for k in range(5)]
            cash_acct = customer_account(customer_id, Code.CUSTOMER_CASH)
            pay_i = min(cash, accrued)
            pay_l = min(cash - pay_i, loan)
            loss_i, loss_l = accrued - pay_i, loan - pay_l
            loss_acct = platform_account(Code.LOSS_WRITE_OFF, cash_l)
            plan = [
                (
                    ids[0],
                    cash_acct,
                    customer_account(customer_id, Code.ACCRUED_INTEREST),
                    pay_i,
                    cash_l,
                    TransferCode.INTEREST_PAYMENT,
                ),
                (
                    ids[1],
                    cash_acct,
                    customer_account(customer_id, Code.MARGIN_LOAN),
                    pay_l,
                    cash_l,
                    TransferCode.LOAN_REPAY,
                ),
                (
                    ids[2],
                    loss_acct,
                    customer_account(customer_id, Code.ACCRUED_INTEREST),
                    loss_i,
                    cash_l,
                    TransferCode.WRITE_OFF,
                ),
                (
                    ids[3],
                    loss_acct,
                    customer_account(customer_id, Code.MARGIN_LOAN),
                    loss_l,
                    cash_l,
                    TransferCode.WRITE_OFF,
                ),
                (
                    ids[4],
                    platform_account(Code.LINE_CONTROL, cash_l),
                    customer_account(customer_id, Code.CREDIT_LINE),
                    loan,
                    memo_ledger(cash_l),
                    TransferCode.LINE_RELEASE,
                ),
            ]
            batch = [
                Transfer(i, dr, cr, amt, led, int(code)) for i, dr, cr, amt, led, code in plan if amt > 0
            ]
            if not batch:
                return OperationResult(op_id, True, "ok", [], {"loss_minor": 0})
            result = self._post(uow, op_id, batch, {"loss_minor": loss_i + loss_l})
            if result.ok and loss_i + loss_l > 0:
                uow.connection.execute(
                    update(facilities)
                    .where(facilities.c.customer_id == customer_id)
                    .values(status="written_off")
                )
            return result

        return run_in_transaction(self.engine, work)

    # ---- margin views --------------------------------------------------------------------------
    def margin(self, customer_id: int) -> MarginView:
        """The customer's margin position at the last prices (``GET /v1/accounts/{id}/margin``)."""

        def work(uow: SqlUnitOfWork) -> MarginView:
            fac = self._facility(uow, customer_id)
            locked = self._lock_customer(uow, customer_id)
            ev, positions, cash, loan, accrued = self._evaluate_one(uow, fac, locked)
            return MarginView(
                customer_id,
                fac.regime,
                int(cash),
                int(loan),
                int(accrued),
                round(float(ev.market_value[0])),
                round(float(ev.collateral_value[0])),
                float(ev.ratio[0]),
                str(Status(int(ev.status[0])).name.lower()),
                int(np.ceil(ev.topup_minor[0])),
                int(np.floor(ev.withdrawable_minor[0])),
                {i: q for i, q in positions.items() if q > 0},
            )

        return run_in_transaction(self.engine, work)

    def mark_to_market(self, prices_minor: dict[int, int], call_days: int | None = None) -> MarkResult:
        """New prices → every facility re-evaluated, calls issued / met, overdue calls to liquidate.

        Calls follow the lifecycle of ``margin.engine.step_calls``: issued below the call
        level with a deadline ``call_days`` (regime default: 2) days later, met when the ratio is
        back at the target, handed to liquidation below the floor or after the deadline.
        """
        for iid, p in prices_minor.items():
            _positive(iid, "instrument_id", 999_999)
            _positive(p, "price_minor")

        def work(uow: SqlUnitOfWork) -> MarkResult:
            conn = uow.connection
            now = self.clock()
            known = self._instruments(uow)
            unknown = sorted(set(prices_minor) - set(known))
            if unknown:
                raise InputError(f"instrument {unknown[0]} is not registered", field="instrument_id")
            for iid, p in prices_minor.items():
                conn.execute(
                    update(instruments)
                    .where(instruments.c.instrument_id == iid)
                    .values(price_minor=p, price_as_of_ns=now)
                )
            facs = [
                Facility(**r._mapping)
                for r in conn.execute(select(facilities).where(facilities.c.status == "open"))
            ]
            statuses: dict[int, str] = {}
            issued: list[int] = []
            met: list[int] = []
            liquidate: list[int] = []
            open_calls = {
                r.customer_id: r
                for r in conn.execute(select(margin_calls).where(margin_calls.c.status == "open"))
            }
            for fac in facs:
                locked = self._lock_customer(uow, fac.customer_id)
                ev, *_ = self._evaluate_one(uow, fac, locked)
                reg = regime(fac.regime)
                status = Status(int(ev.status[0]))
                statuses[fac.customer_id] = status.name.lower()
                target = max(reg.target, float(ev.call_level[0]))
                call = open_calls.get(fac.customer_id)
                days = reg.call_days if call_days is None else call_days
                if call is None and status >= Status.CALL:
                    conn.execute(
                        insert(margin_calls).values(
                            call_id=operation_transfer_id("call", fac.customer_id, now),
                            customer_id=fac.customer_id,
                            status="open",
                            issued_at_ns=now,
                            deadline_ns=now + days * NS_PER_DAY,
                            ratio_at_issue_bps=min(int(ev.ratio[0] * 1e4), MAX_INT64),
                            required_minor=int(np.ceil(ev.topup_minor[0])),
                            closed_at_ns=0,
                        )
                    )
                    issued.append(fac.customer_id)
                    if status == Status.LIQUIDATE:
                        liquidate.append(fac.customer_id)
                elif call is not None and float(ev.ratio[0]) >= target:
                    conn.execute(
                        update(margin_calls)
                        .where(margin_calls.c.call_id == call.call_id)
                        .values(status="met", closed_at_ns=now)
                    )
                    met.append(fac.customer_id)
                elif call is not None and (status == Status.LIQUIDATE or now >= call.deadline_ns):
                    liquidate.append(fac.customer_id)
            return MarkResult(len(facs), statuses, issued, met, liquidate)

        return run_in_transaction(self.engine, work)

    def close_call(self, customer_id: int, status: str = "liquidated") -> None:
        """Record the outcome of a call handed to liquidation."""

        def work(uow: SqlUnitOfWork) -> None:
            uow.connection.execute(
                update(margin_calls)
                .where((margin_calls.c.customer_id == customer_id) & (margin_calls.c.status == "open"))
                .values(status=status, closed_at_ns=self.clock())
            )

        run_in_transaction(self.engine, work)


def _initial_margin_after(
    inst: dict[int, Any], positions: dict[int, int], cash: float, loan: float, accrued: float, fac: Facility
) -> bool:
    """The exchange's available margin after a buy (``engine.initial_margin_ok``).

    These books do not yet record which position the loan financed, so the loan is spread
    over the positions by market value (every position treated as financed in proportion).
    """
    ids = sorted(i for i, q in positions.items() if q > 0)
    prices = np.array([inst[i].price_minor for i in ids], dtype=np.float64)
    conv = np.array([inst[i].conversion_rate_bps / 1e4 for i in ids], dtype=np.float64)
    qty = np.array([positions[i] for i in ids], dtype=np.float64)
    mv = qty * prices
    share = mv / mv.sum() if mv.sum() > 0 else np.zeros_like(mv)
    book = Book(
        np.array([cash]),
        np.array([loan + accrued]),
        np.zeros(len(ids), dtype=np.int64),
        np.arange(len(ids)),
        qty,
        pos_financed_minor=share * loan,
        interest_fees_minor=np.array([accrued]),
    )
    return bool(initial_margin_ok(book, prices, conv, regime(fac.regime))[0])


def _linked(t: Transfer) -> Transfer:
    return Transfer(
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount_minor,
        t.ledger,
        t.code,
        t.flags | LINKED,
        t.pending_id,
        t.timeout_s,
        t.user_data,
        t.timestamp_ns,
    )


__all__ = ["Facility", "MarginDesk", "MarginView", "MarkResult", "OperationResult"]
