"""The HTTP contract of the books (ledger and margin) routes, for the ``operations`` role.

Money is integer minor units and rates basis points, exactly as the ledger stores them;
bounds are the ledger's own (signed 64-bit ids and amounts, instrument ids below 10^6)
so a value the ledger would refuse is a 422 here, before it reaches a transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from margin.instruments import InstrumentKind as MarginKind
from margin.instruments import LegacyKind
from serving.schemas import MAX_INT64, MAX_MONEY_MINOR, _Closed

MAX_TRANSFERS = 1_000  # per request (the ledger takes 8,190 per batch; HTTP bodies stay small)
MAX_PRICES = 10_000
MAX_INSTRUMENT_ID = 999_999
MAX_INT32 = 2**31 - 1
AT_DESCRIPTION = "business time: YYYY-MM-DD (exchange midnight) or ISO date-time with offset; default now"

InstrumentKind = Literal[MarginKind, LegacyKind]  # legacy: a share in the index / an ST share
Board = Literal["main", "chinext", "star", "st"]


class InstrumentIn(_Closed):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "AAPL",
                    "kind": "index_constituent",
                    "price_minor": 18_825,
                    "adv_shares": 50_000_000,
                }
            ]
        }
    )

    symbol: str = Field(pattern=r"^[A-Z0-9.\-]{1,12}$", description="ticker, as in the decision's trades")
    kind: InstrumentKind = Field(description="sets the conversion rate (haircut) of the instrument")
    price_minor: int = Field(gt=0, le=MAX_MONEY_MINOR, description="last price per share, minor units")
    adv_shares: int = Field(default=1_000_000, ge=0, le=10**13, description="average daily volume")
    volatility_bps: int = Field(default=200, ge=0, le=100_000, description="daily return volatility")
    # instrument master (issue 13): the conversion rate and financed-purchase eligibility follow
    # the exchange rule table from these (margin/instruments.py)
    board: Board | None = Field(default=None, description="main, chinext, star or st (default main)")
    static_pe: float | None = Field(
        default=None, strict=True, description="static P/E as a number; negative = loss-making (0 % rate)"
    )
    index_constituent: bool | None = Field(default=None, strict=True)
    eligible_for_financing: bool | None = Field(
        default=None, strict=True, description="融资买入标的 (default: shares and ETFs)"
    )
    eligible_as_collateral: bool | None = Field(default=None, strict=True)
    at: str | None = Field(default=None, description=f"{AT_DESCRIPTION} (the price's as-of time)")

    def master(self) -> dict[str, object]:
        """The master fields given (None = the rule table's default)."""
        names = (
            "board",
            "static_pe",
            "index_constituent",
            "eligible_for_financing",
            "eligible_as_collateral",
        )
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class Instrument(BaseModel):
    instrument_id: int
    symbol: str
    kind: str
    conversion_rate_bps: int
    price_minor: int
    adv_shares: int
    volatility_bps: int
    board: str
    static_pe: float | None
    index_constituent: bool
    eligible_for_financing: bool
    eligible_as_collateral: bool
    price_as_of_ns: int


class AccountOpen(_Closed):
    """Open the margin facility of an approved decision: its line, rate and leverage."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"decision_id": "0123456789abcdef0123456789abcdef", "regime": "cn", "currency": "CNY"}
            ]
        }
    )

    decision_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="an approved decision")
    regime: Literal["cn", "us"] | None = Field(
        default=None, description="margin rules of the contract (default: the decision's policy's)"
    )
    currency: Literal["CNY", "USD"] | None = Field(
        default=None,
        description="the facility's currency (default: the decision's); another than the decision's "
        "policy's is refused, 422 rule currency_mismatch",
    )
    at: str | None = Field(
        default=None, description=f"{AT_DESCRIPTION}; operations dated before it are refused"
    )


class AccountBalance(BaseModel):
    account_id: int
    name: str
    ledger: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


class AccountView(BaseModel):
    customer_id: int
    decision_id: str
    status: str
    regime: str
    currency_ledger: int
    line_minor: int
    line_available_minor: int
    annual_rate_bps: int
    max_leverage_bps: int
    opened_at_ns: int
    cash_minor: int
    loan_minor: int
    accrued_interest_minor: int
    positions: dict[str, int] = Field(description="instrument id → shares held")
    accounts: list[AccountBalance]


class MarginOut(BaseModel):
    customer_id: int
    regime: str
    cash_minor: int
    loan_minor: int
    accrued_interest_minor: int
    market_value_minor: int
    collateral_value_minor: int
    ratio: float | None = Field(description="maintenance ratio (None when there is no debt)")
    status: str
    topup_minor: int
    withdrawable_minor: int
    positions: dict[str, int]


class TransferIn(_Closed):
    """One ledger transfer (TigerBeetle semantics); ``id`` is the client's idempotency key."""

    id: int = Field(ge=1, le=MAX_INT64)
    debit_account_id: int = Field(default=0, ge=0, le=MAX_INT64)
    credit_account_id: int = Field(default=0, ge=0, le=MAX_INT64)
    amount_minor: int = Field(ge=0, le=MAX_INT64)
    ledger: int = Field(default=0, ge=0, le=MAX_INT32)
    code: int = Field(default=99, ge=0, le=MAX_INT32)
    flags: int = Field(
        default=0, ge=0, le=15, description="1 linked, 2 pending, 4 post pending, 8 void pending"
    )
    pending_id: int = Field(default=0, ge=0, le=MAX_INT64)
    timeout_s: int = Field(default=0, ge=0, le=MAX_INT32)
    user_data: int = Field(default=0, ge=0, le=MAX_INT64)


class TransferBatch(_Closed):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "transfers": [
                        {
                            "id": 900001,
                            "debit_account_id": 20_000_156,
                            "credit_account_id": 500_110_000_000,
                            "amount_minor": 1_000_000,
                            "ledger": 156,
                            "code": 1,
                        }
                    ]
                }
            ]
        }
    )

    transfers: list[TransferIn] = Field(min_length=1, max_length=MAX_TRANSFERS)
    at: str | None = Field(default=None, description=f"{AT_DESCRIPTION} (the transfers' timestamp)")


class TransferOutcome(BaseModel):
    id: int
    result: str = Field(description="'ok' (applied), 'exists' (same id and body: stored), or why refused")


class TransferResults(BaseModel):
    results: list[TransferOutcome]


class OperationIn(_Closed):
    """A margin operation on the customer's books; ``op_id`` makes retries safe."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"op_id": "dep-1", "kind": "deposit", "amount_minor": 5_000_000},
                {
                    "op_id": "buy-1",
                    "kind": "buy",
                    "instrument_id": 1,
                    "quantity": 100,
                    "price_minor": 18_825,
                    "fee_minor": 500,
                },
            ]
        }
    )

    op_id: str = Field(pattern=r"^[A-Za-z0-9._:\-]{1,64}$")
    kind: Literal["deposit", "withdraw", "buy", "sell"]
    at: str | None = Field(default=None, description=AT_DESCRIPTION)
    amount_minor: int | None = Field(default=None, gt=0, le=MAX_MONEY_MINOR, description="deposit/withdraw")
    instrument_id: int | None = Field(default=None, ge=1, le=MAX_INSTRUMENT_ID, description="buy/sell")
    quantity: int | None = Field(default=None, gt=0, le=10**12, description="buy/sell")
    price_minor: int | None = Field(default=None, gt=0, le=MAX_MONEY_MINOR, description="buy/sell")
    fee_minor: int = Field(default=0, ge=0, le=MAX_MONEY_MINOR)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> OperationIn:
        trade = ("instrument_id", "quantity", "price_minor")
        if self.kind in ("deposit", "withdraw"):
            if self.amount_minor is None:
                raise ValueError(f"amount_minor is required for {self.kind}")
            given = [name for name in trade if getattr(self, name) is not None]
            if given or self.fee_minor:
                raise ValueError(f"{', '.join(given) or 'fee_minor'} not allowed for {self.kind}")
        else:
            missing = [name for name in trade if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} required for {self.kind}")
            if self.amount_minor is not None:
                raise ValueError(f"amount_minor not allowed for {self.kind} (it is quantity × price_minor)")
        return self


class OperationOut(BaseModel):
    op_id: str
    ok: bool
    reason: str
    transfers: list[TransferOutcome]
    details: dict[str, Any]


class PriceIn(_Closed):
    instrument_id: int = Field(ge=1, le=MAX_INSTRUMENT_ID)
    price_minor: int = Field(gt=0, le=MAX_MONEY_MINOR)


class PricesIn(_Closed):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"prices": [{"instrument_id": 1, "price_minor": 15_000}]}]}
    )

    prices: list[PriceIn] = Field(min_length=1, max_length=MAX_PRICES)
    at: str | None = Field(default=None, description=AT_DESCRIPTION)
    call_days: int | None = Field(
        default=None, ge=0, le=30, description="days to meet a call (regime default)"
    )

    @model_validator(mode="after")
    def _unique(self) -> PricesIn:
        ids = [p.instrument_id for p in self.prices]
        if len(set(ids)) != len(ids):
            raise ValueError("prices[].instrument_id must be unique")
        return self


class MarkOut(BaseModel):
    evaluated: int
    statuses: dict[str, str] = Field(description="customer id → margin status after the new prices")
    calls_issued: list[int]
    calls_met: list[int]
    to_liquidate: list[int]
