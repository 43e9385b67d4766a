"""Ledger and margin for the ``operations`` role: facilities, transfers, instruments, prices.

Thin on purpose: every route validates its body, calls the ledger or margin service (one
database transaction each, all or nothing) and maps its answer to HTTP. Refusals by the
books (a transfer past a limit, a withdrawal over the rule) are 4xx naming the rule.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from margin.domain import MAX_CUSTOMER_ID_INCLUSIVE, MAX_INSTRUMENT_ID_INCLUSIVE
from serving.books_schemas import (
    AccountBalance,
    AccountOpen,
    AccountView,
    Instrument,
    InstrumentIn,
    MarginOut,
    MarkOut,
    OperationIn,
    OperationOut,
    PricesIn,
    TransferBatch,
    TransferOutcome,
    TransferResults,
)
from serving.deps import require, services
from serving.errors import ApiError, responses
from serving.keys import Principal, Role
from serving.services import Services
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1", tags=["books"], route_class=StrictJsonRoute)  # duplicate keys: 422
operations = require(Role.operations)

CustomerId = Path(
    ge=1, le=MAX_CUSTOMER_ID_INCLUSIVE, description="the customer's id (owner of the margin accounts)"
)


class Books:
    """The ledger and margin services over the service database (one per app)."""

    def __init__(self, svc: Services) -> None:
        from ledger.journal import DecisionJournal
        from ledger.service import Ledger
        from ledger.storage import make_engine
        from margin.service import MarginDesk
        from margin.storage import migrate

        engine = make_engine(svc.settings.database_url)
        migrate(engine)
        self.svc = svc
        self.ledger = Ledger(engine)
        self.desk = MarginDesk(engine)
        self.journal = DecisionJournal(svc.engine)  # reads only: no write lock


def _desk_at(b: Books, at: str | None) -> Any:
    """The desk at the request's business time ``at`` (default now: the app's desk)."""
    if at is None:
        return b.desk
    from creditdesk.business_time import parse_at

    return b.desk.at(parse_at(at, time.time_ns()))


def _ledger_at(b: Books, at: str | None) -> Any:
    """The raw ledger at the request's business time ``at`` (default now: the app's ledger)."""
    if at is None:
        return b.ledger
    from creditdesk.business_time import BusinessClock, parse_at
    from ledger.service import Ledger

    return Ledger(b.ledger.engine, clock=BusinessClock(parse_at(at, time.time_ns())))


def books(request: Request, svc: Services = Depends(services)) -> Books:
    found: Books | None = getattr(request.app.state, "books", None)
    if found is None:
        found = Books(svc)
        request.app.state.books = found
    return found


def _no_facility(customer_id: int) -> ApiError:
    return ApiError(
        404,
        "not found",
        field="customer_id",
        rule="no_facility",
        message=f"customer {customer_id} has no facility",
    )


def _facility_row(svc: Services, customer_id: int) -> Any:
    from margin.storage import facilities

    with svc.engine.connect() as conn:
        return conn.execute(select(facilities).where(facilities.c.customer_id == customer_id)).first()


@router.put(
    "/instruments/{instrument_id}",
    response_model=Instrument,
    responses=responses(401, 403, 409, 413, 422, 429),
)
def put_instrument(
    body: InstrumentIn,
    instrument_id: int = Path(ge=1, le=MAX_INSTRUMENT_ID_INCLUSIVE),
    _who: Principal = Depends(operations),
    b: Books = Depends(books),
) -> Instrument:
    """Register or update an instrument of the margin master (kind, board, P/E and flags set
    its conversion rate and financed-purchase eligibility by the exchange rule table)."""
    from margin.storage import instruments

    with b.svc.engine.connect() as conn:
        clash = conn.execute(
            select(instruments.c.instrument_id).where(
                instruments.c.symbol == body.symbol, instruments.c.instrument_id != instrument_id
            )
        ).first()
    if clash is not None:
        raise ApiError(
            409,
            "conflict",
            field="symbol",
            rule="symbol_taken",
            message=f"instrument {clash[0]} has this symbol",
        )
    _desk_at(b, body.at).upsert_instrument(
        instrument_id,
        body.symbol,
        body.kind,
        body.price_minor,
        body.adv_shares,
        body.volatility_bps,
        **body.master(),
    )
    with b.svc.engine.connect() as conn:
        row = conn.execute(select(instruments).where(instruments.c.instrument_id == instrument_id)).one()
    return Instrument(**{k: row._mapping[k] for k in Instrument.model_fields})


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountView,
    responses={
        200: {"model": AccountView, "description": "already open (resend)"},
        **responses(401, 403, 404, 409, 413, 422, 429),
    },
)
def open_account(
    body: AccountOpen,
    response: Response,
    _who: Principal = Depends(operations),
    b: Books = Depends(books),
) -> AccountView:
    """Open the margin facility of an approved decision: accounts, line, rate and leverage.

    201 when this request opened it; 200 when the same decision is already open with the same
    regime and currency (a resend); 404 for an unknown decision; 409 naming the rule when the
    decision is not an approval, was used already, or the customer has another facility; 422
    naming ``currency`` or ``regime`` when they differ from the decision's policy's.
    """
    from margin.opening import CONFLICT_RULES, NOT_FOUND, OpeningRefused, open_from_decision

    try:
        desk = _desk_at(b, body.at)
        outcome = open_from_decision(desk, b.journal.get, body.decision_id, body.regime, body.currency)
    except OpeningRefused as exc:
        status = 404 if exc.rule == NOT_FOUND else 409 if exc.rule in CONFLICT_RULES else 422
        title = {404: "not found", 409: "conflict", 422: "request validation failed"}[status]
        raise ApiError(
            status, title, field=exc.field or "decision_id", rule=exc.rule, message=str(exc)
        ) from exc
    if not outcome.created:
        response.status_code = 200
    return _account_view(b, outcome.facility.customer_id)


def _account_view(b: Books, customer_id: int) -> AccountView:
    from ledger.storage import accounts
    from margin.chart import Code, customer_account

    fac = _facility_row(b.svc, customer_id)
    if fac is None:
        raise _no_facility(customer_id)
    names = {
        customer_account(customer_id, c): c.name.lower()
        for c in (Code.CUSTOMER_CASH, Code.MARGIN_LOAN, Code.ACCRUED_INTEREST, Code.CREDIT_LINE)
    }
    low = customer_account(customer_id, Code.SECURITIES, 0)
    with b.svc.engine.connect() as conn:
        rows = conn.execute(
            select(accounts)
            .where(
                accounts.c.id.in_(list(names)) | accounts.c.id.between(low, low + MAX_INSTRUMENT_ID_INCLUSIVE)
            )
            .order_by(accounts.c.id)
        ).all()
    balances = [
        AccountBalance(
            account_id=r.id,
            name=names.get(r.id, f"securities:{r.id - low}"),
            ledger=r.ledger,
            debits_posted=r.debits_posted,
            credits_posted=r.credits_posted,
            debits_pending=r.debits_pending,
            credits_pending=r.credits_pending,
        )
        for r in rows
    ]
    by_name = {a.name: a for a in balances}

    def credit(name: str) -> int:
        a = by_name.get(name)
        return 0 if a is None else a.credits_posted - a.debits_posted

    return AccountView(
        customer_id=customer_id,
        decision_id=fac.decision_id,
        status=fac.status,
        regime=fac.regime,
        currency_ledger=fac.currency_ledger,
        line_minor=fac.line_minor,
        line_available_minor=credit("credit_line"),
        annual_rate_bps=fac.annual_rate_bps,
        max_leverage_bps=fac.max_leverage_bps,
        opened_at_ns=fac.opened_at_ns,
        cash_minor=credit("customer_cash"),
        loan_minor=-credit("margin_loan"),
        accrued_interest_minor=-credit("accrued_interest"),
        positions={
            str(a.account_id - low): a.debits_posted - a.credits_posted
            for a in balances
            if a.name.startswith("securities:") and a.debits_posted != a.credits_posted
        },
        accounts=balances,
    )


@router.get(
    "/accounts/{customer_id}", response_model=AccountView, responses=responses(401, 403, 404, 422, 429)
)
def get_account(
    customer_id: int = CustomerId, _who: Principal = Depends(operations), b: Books = Depends(books)
) -> AccountView:
    """The facility and the balances of every account of the customer (minor units)."""
    return _account_view(b, customer_id)


@router.get(
    "/accounts/{customer_id}/margin", response_model=MarginOut, responses=responses(401, 403, 404, 422, 429)
)
def get_margin(
    customer_id: int = CustomerId, _who: Principal = Depends(operations), b: Books = Depends(books)
) -> MarginOut:
    """Maintenance ratio, status, top-up and withdrawable cash at the last marked prices."""
    if _facility_row(b.svc, customer_id) is None:
        raise _no_facility(customer_id)
    view = b.desk.margin(customer_id)
    return MarginOut(
        customer_id=view.customer_id,
        regime=view.regime,
        cash_minor=view.cash_minor,
        loan_minor=view.loan_minor,
        accrued_interest_minor=view.accrued_interest_minor,
        market_value_minor=view.market_value_minor,
        collateral_value_minor=view.collateral_value_minor,
        ratio=view.ratio if math.isfinite(view.ratio) else None,
        status=view.status,
        topup_minor=view.topup_minor,
        withdrawable_minor=view.withdrawable_minor,
        positions={str(k): int(v) for k, v in view.positions.items()},
    )


@router.post(
    "/accounts/{customer_id}/operations",
    response_model=OperationOut,
    responses=responses(401, 403, 404, 409, 413, 422, 429),
)
def post_operation(
    body: OperationIn,
    customer_id: int = CustomerId,
    _who: Principal = Depends(operations),
    b: Books = Depends(books),
) -> OperationOut:
    """Deposit, withdraw, buy or sell on margin: one linked chain of transfers, all or nothing.

    A retry with the same ``op_id`` moves nothing again; the same ``op_id`` with other
    amounts is refused (409).
    """
    if _facility_row(b.svc, customer_id) is None:
        raise _no_facility(customer_id)
    desk = _desk_at(b, body.at)
    if body.kind == "deposit":
        assert body.amount_minor is not None
        result = desk.deposit(customer_id, body.op_id, body.amount_minor)
    elif body.kind == "withdraw":
        assert body.amount_minor is not None
        result = desk.withdraw(customer_id, body.op_id, body.amount_minor)
    else:
        assert body.instrument_id is not None and body.quantity is not None and body.price_minor is not None
        trade = desk.buy if body.kind == "buy" else desk.sell
        result = trade(
            customer_id, body.op_id, body.instrument_id, body.quantity, body.price_minor, body.fee_minor
        )
    if not result.ok:
        status = 409 if result.reason == "exists_with_different_body" else 422
        raise ApiError(
            status,
            "conflict" if status == 409 else "request validation failed",
            field="op_id" if status == 409 else body.kind,
            rule=result.reason,
            message=f"operation {body.op_id} refused by the books: {result.reason} {result.details}",
        )
    return OperationOut(
        op_id=result.op_id,
        ok=result.ok,
        reason=result.reason,
        transfers=[TransferOutcome(id=i, result=r) for i, r in result.transfers],
        details=dict(result.details),
    )


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferResults,
    responses={
        200: {"model": TransferResults, "description": "all applied or already stored"},
        **responses(401, 403, 409, 413, 422, 429),
    },
)
def post_transfers(
    body: TransferBatch,
    response: Response,
    _who: Principal = Depends(operations),
    b: Books = Depends(books),
) -> TransferResults | JSONResponse:
    """Post raw ledger transfers, idempotent on ``id``: the same id and body again is ``exists``.

    TigerBeetle semantics: each transfer stands alone unless flagged linked (1) to the next,
    and a linked chain commits all or nothing. 201 when every transfer was applied, 200
    when some were already stored; otherwise 409 (an id reused with another body) or 422,
    naming each refused transfer and its result code — transfers not refused were applied.
    """
    from ledger.domain import Transfer

    batch = [Transfer(**t.model_dump()) for t in body.transfers]
    results = _ledger_at(b, body.at).create_transfers(batch)
    codes = [r.value for r in results]
    refused = [(i, c) for i, c in enumerate(codes) if c not in ("ok", "exists")]
    if refused:
        from serving.errors import FieldError, error_response

        reused = all(c in ("exists_with_different_body", "linked_event_failed") for _, c in refused)
        status = 409 if reused and any(c == "exists_with_different_body" for _, c in refused) else 422
        applied = sum(c == "ok" for c in codes)
        errors = [
            FieldError(
                field=f"transfers.{i}",
                rule=code,
                message=f"transfer {batch[i].id} refused: {code} ({applied} other transfer(s) applied)",
            )
            for i, code in refused[:50]
        ]
        return error_response(status, "conflict" if status == 409 else "transfers refused", errors)
    if any(c == "exists" for c in codes):
        response.status_code = 200
    return TransferResults(
        results=[TransferOutcome(id=t.id, result=c) for t, c in zip(batch, codes, strict=True)]
    )


@router.post("/prices", response_model=MarkOut, responses=responses(401, 403, 413, 422, 429))
def post_prices(body: PricesIn, _who: Principal = Depends(operations), b: Books = Depends(books)) -> MarkOut:
    """Mark to market: new prices → every open facility re-evaluated, calls issued and met."""
    desk = _desk_at(b, body.at)
    result = desk.mark_to_market({p.instrument_id: p.price_minor for p in body.prices}, body.call_days)
    return MarkOut(
        evaluated=result.evaluated,
        statuses={str(k): v for k, v in result.statuses.items()},
        calls_issued=list(result.calls_issued),
        calls_met=list(result.calls_met),
        to_liquidate=list(result.to_liquidate),
    )
