"""The HTTP contract: pydantic v2 models for every body, strict and closed.

``extra="forbid"`` turns a misspelt field into a 422 instead of a silently ignored value,
and ``strict=True`` refuses ``"42"`` for an integer or ``1`` for a boolean: a bank's
onboarding flow should send the types it means. Ranges come from the feature catalogue
where a raw field maps one-to-one onto a feature, and enums from ``features.schemas``, so
the API refuses what the models were never trained to see.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from features import catalogue
from features.schemas import CASH_FLOW_KINDS, EMPLOYMENT, REGIONS, SIDES
from margin.domain import MAX_CUSTOMER_ID_INCLUSIVE

MAX_INT64 = 2**63 - 1
MAX_MONEY_MINOR = 10**15  # ten trillion major units: beyond any real customer, well inside int64
MAX_TRADES = 5_000
MAX_CASH_FLOWS = 2_000
MAX_BATCH = 1_000


# Every date the API accepts lies in [DATE_MIN, DATE_MAX]: far inside numpy's datetime64[ns]
# range (1677-09-21 .. 2262-04-11), so the feature code can never wrap a date silently.
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2199, 12, 31)
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$")
_RANGE = f"between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}"


_WITH_OFFSET = re.compile(_ISO_DATETIME.pattern[:-1] + r"(Z|[+-][0-9]{2}:?[0-9]{2})$")


def _in_range(day: dt.date) -> None:
    if not DATE_MIN <= day <= DATE_MAX:
        raise PydanticCustomError("date_range", "must be {range}", {"range": _RANGE})


def _format_error(kind: str) -> PydanticCustomError:
    return PydanticCustomError(
        f"{kind}_format",
        "must be an ISO {kind} string {shape}",
        {"kind": kind, "shape": "YYYY-MM-DD" if kind == "date" else "YYYY-MM-DDTHH:MM:SS without offset"},
    )


def _strict_date(value: object) -> dt.date:
    """An ISO calendar date string ``YYYY-MM-DD``: no integers, no unix times, no datetimes."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day = value  # from Python (stored requests, tests)
    elif isinstance(value, str) and _ISO_DATE.match(value):
        day = dt.date.fromisoformat(value)  # ValueError (e.g. month 13) becomes a 422
    else:
        raise _format_error("date")
    _in_range(day)
    return day


def _strict_naive_datetime(value: object) -> dt.datetime:
    """An ISO ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` string without offset (exchange time)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        stamp = value
    elif isinstance(value, str) and _ISO_DATETIME.match(value):
        stamp = dt.datetime.fromisoformat(value)
    elif isinstance(value, str) and _WITH_OFFSET.match(value):
        raise PydanticCustomError("timezone_naive", "Input should not have timezone info")
    else:
        raise _format_error("datetime")
    _in_range(stamp.date())
    return stamp


StrictDate = Annotated[
    dt.date,
    PlainValidator(_strict_date),
    PlainSerializer(lambda day: day.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _ISO_DATE.pattern}),
]
StrictNaiveDatetime = Annotated[
    dt.datetime,
    PlainValidator(_strict_naive_datetime),
    PlainSerializer(lambda stamp: stamp.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _ISO_DATETIME.pattern}),
]
# Free text: no NUL and no other control characters (they break logs, CSV exports, C code).
_TEXT = r"^[^\x00-\x1f\x7f]+$"


def _bounds(feature: str) -> dict[str, float]:
    """``ge``/``le`` of a catalogue feature (so the API and the models agree on a range)."""
    spec = catalogue.get(feature)
    return {"ge": spec.low, "le": spec.high}


Employment = Literal[EMPLOYMENT]  # type: ignore[valid-type]
Region = Literal[REGIONS]  # type: ignore[valid-type]
Side = Literal[SIDES]  # type: ignore[valid-type]
CashFlowKind = Literal[CASH_FLOW_KINDS]  # type: ignore[valid-type]


class _Closed(BaseModel):
    # Dates and datetimes opt out of strict mode field by field: JSON has no date type, so
    # they arrive as ISO strings; everything else must arrive as the JSON type it is.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Applicant(_Closed):
    """Personal data: encrypted at rest (AES-GCM), never logged, never used as a feature."""

    full_name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    national_id: str = Field(pattern=r"^[A-Za-z0-9-]{4,32}$")
    phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{5,23}$")
    address: str = Field(min_length=1, max_length=500, pattern=_TEXT)


class Kyc(_Closed):
    age: int = Field(ge=int(_bounds("age_years")["ge"]), le=int(_bounds("age_years")["le"]))
    annual_income_minor: int = Field(ge=0, le=MAX_MONEY_MINOR)
    net_worth_minor: int = Field(ge=-MAX_MONEY_MINOR, le=MAX_MONEY_MINOR)
    liquid_assets_minor: int = Field(ge=0, le=MAX_MONEY_MINOR, description="held outside the platform")
    employment: Employment
    investing_experience_years: int = Field(ge=0, le=int(_bounds("investing_experience_years")["le"]))
    risk_questionnaire_score: int = Field(ge=0, le=int(_bounds("risk_questionnaire_score")["le"]))
    region: Region
    identity_verified: bool
    is_pep: bool
    pep_reviewed: bool
    sanctions_hit: bool
    account_opened_date: StrictDate = Field(description=f"cash account opened on the platform; {_RANGE}")


class Bureau(_Closed):
    bureau_score: int = Field(ge=int(_bounds("bureau_score")["ge"]), le=int(_bounds("bureau_score")["le"]))
    open_accounts: int = Field(ge=0, le=int(_bounds("open_accounts")["le"]))
    credit_utilisation: float = Field(
        ge=_bounds("credit_utilisation")["ge"], le=_bounds("credit_utilisation")["le"]
    )
    delinquencies_24m: int = Field(ge=0, le=int(_bounds("delinquencies_24m")["le"]))
    inquiries_6m: int = Field(ge=0, le=int(_bounds("inquiries_6m")["le"]))
    oldest_account_months: int = Field(ge=0, le=int(_bounds("oldest_account_months")["le"]))
    debt_to_income: float = Field(ge=0, le=100)
    bureau_default_24m: bool


class Trade(_Closed):
    trade_id: int = Field(ge=1, le=MAX_INT64)
    # Naive on purpose: the feature code compares against midnight of the application date in
    # exchange time; an offset would need a market calendar to interpret, so it is refused.
    timestamp: StrictNaiveDatetime = Field(
        description="exchange time, naive; not before kyc.account_opened_date, before application_date"
    )
    ticker: str = Field(pattern=r"^[A-Z0-9.\-]{1,12}$")
    side: Side
    quantity: int = Field(gt=0, le=10**12)
    price: float = Field(gt=0, le=10**7, description="per share")
    fees_minor: int = Field(ge=0, le=MAX_MONEY_MINOR)


class CashFlow(_Closed):
    timestamp: StrictNaiveDatetime = Field(
        description="naive; on or after kyc.account_opened_date, strictly before application_date"
    )
    kind: CashFlowKind
    amount_minor: int = Field(gt=0, le=MAX_MONEY_MINOR)


_EXAMPLE_REQUEST: dict[str, Any] = {
    "application_id": 100001,
    "customer_id": 5001,
    "application_date": "2024-03-04",
    "requested_line_minor": 5_000_000,
    "platform_assets_minor": 60_000_000,  # ¥600,000: passes the cn ¥500,000 admission
    "applicant": {
        "full_name": "Ada Example",
        "national_id": "X1234567",
        "phone": "+44 20 7946 0000",
        "address": "1 Example Street, London",
    },
    "kyc": {
        "age": 41,
        "annual_income_minor": 9_500_000,
        "net_worth_minor": 40_000_000,
        "liquid_assets_minor": 8_000_000,
        "employment": "employed",
        "investing_experience_years": 9,
        "risk_questionnaire_score": 55,
        "region": "east",
        "identity_verified": True,
        "is_pep": False,
        "pep_reviewed": False,
        "sanctions_hit": False,
        "account_opened_date": "2019-06-12",
    },
    "bureau": {
        "bureau_score": 742,
        "open_accounts": 6,
        "credit_utilisation": 0.22,
        "delinquencies_24m": 0,
        "inquiries_6m": 1,
        "oldest_account_months": 180,
        "debt_to_income": 0.18,
        "bureau_default_24m": False,
    },
    "trades": [
        {
            "trade_id": 1,
            "timestamp": "2023-11-02T10:15:00",
            "ticker": "AAPL",
            "side": "buy",
            "quantity": 100,
            "price": 172.5,
            "fees_minor": 500,
        },
        {
            "trade_id": 2,
            "timestamp": "2024-01-18T14:02:00",
            "ticker": "AAPL",
            "side": "sell",
            "quantity": 40,
            "price": 188.25,
            "fees_minor": 500,
        },
    ],
    "cash_flows": [{"timestamp": "2023-10-30T09:00:00", "kind": "deposit", "amount_minor": 2_000_000}],
}


class DecisionRequest(_Closed):
    """One margin application as the onboarding flow sends it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_REQUEST]})

    application_id: int = Field(
        ge=1, le=MAX_INT64, description="idempotency key: resending returns the stored decision"
    )
    customer_id: int = Field(
        ge=1,
        le=MAX_CUSTOMER_ID_INCLUSIVE,
        description="the ledger's customer id (its account scheme holds 1 … 89,999,999,999), so an "
        "approved decision can always open its facility",
    )
    application_date: StrictDate = Field(
        description=f"a trading day; only data strictly before it is used; {_RANGE}"
    )
    requested_line_minor: int = Field(gt=0, le=MAX_MONEY_MINOR)
    platform_assets_minor: int = Field(
        ge=0, le=MAX_MONEY_MINOR, description="cash + holdings at the previous close"
    )
    applicant: Applicant
    kyc: Kyc
    bureau: Bureau
    trades: list[Trade] | None = Field(
        default=None,
        max_length=MAX_TRADES,
        description="used only when the ledger holds no trades for the customer",
    )
    cash_flows: list[CashFlow] | None = Field(default=None, max_length=MAX_CASH_FLOWS)

    @model_validator(mode="after")
    def _point_in_time(self) -> DecisionRequest:
        # A trade on or after the application date would leak the future into the features.
        # One before the account was opened cannot have happened on the platform.
        cutoff = dt.datetime.combine(self.application_date, dt.time())
        opened = dt.datetime.combine(self.kyc.account_opened_date, dt.time())
        stamps = [("trades", i, t.timestamp) for i, t in enumerate(self.trades or ())]
        stamps += [("cash_flows", i, c.timestamp) for i, c in enumerate(self.cash_flows or ())]
        for name, i, stamp in stamps:
            if stamp >= cutoff:
                raise ValueError(f"{name}[{i}].timestamp must be strictly before application_date")
            if stamp < opened:
                raise ValueError(f"{name}[{i}].timestamp must not be before kyc.account_opened_date")
        if self.kyc.account_opened_date > self.application_date:
            raise ValueError("kyc.account_opened_date must not be after application_date")
        if self.trades:
            ids = [t.trade_id for t in self.trades]
            if len(set(ids)) != len(ids):
                raise ValueError("trades[].trade_id must be unique")
        return self


class BatchRequest(_Closed):
    model_config = ConfigDict(json_schema_extra={"examples": [{"applications": [_EXAMPLE_REQUEST]}]})

    applications: list[DecisionRequest] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _unique_ids(self) -> BatchRequest:
        ids = [a.application_id for a in self.applications]
        if len(set(ids)) != len(ids):
            raise ValueError("applications[].application_id must be unique within a batch")
        return self


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable reason code, e.g. 'R_BUREAU_SCORE'")
    feature: str | None = Field(description="catalogue feature behind it (None for policy rules)")
    text: str = Field(description="plain-language reason")
    contribution: float | None = Field(
        description="contribution to the score (log-odds; adverse > 0); None for policy rules"
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: str
    application_id: int
    customer_id: int
    outcome: Literal["approve", "refer", "decline"]
    pd_12m: float = Field(ge=0, le=1)
    grade: int = Field(ge=1, le=11, description="master-scale grade (11 = in default)")
    lgd: float = Field(ge=0, le=1)
    ead_minor: float = Field(description="expected exposure at default, minor units (an expectation)")
    expected_loss_minor: float
    economic_capital_minor: float
    annual_rate: float
    credit_limit_minor: int
    max_leverage: float
    raroc: float | None
    reasons: list[Reason] = Field(max_length=4)
    model_versions: dict[str, str]
    policy_version: str
    decided_at: dt.datetime


class HealthLive(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "live", "pid": 4242}]}
    )

    status: Literal["live"]
    pid: int


class HealthReady(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "versions": {"pd": "3", "lgd": "2", "ead": "2", "policy": "2026.1"},
                    "loaded_at": "2026-01-20T09:00:00Z",
                    "reasons": [],
                    "fast_reasons": True,
                    "reasons_parity": "max |diff| 7.1e-15 on 856 rows, top-4 reasons equal "
                    "(600 validation rows + probe rows)",
                }
            ]
        },
    )

    status: Literal["ready", "not_ready"]
    versions: dict[str, str]
    loaded_at: dt.datetime | None
    reasons: list[str] = Field(description="why the service is not ready (empty when ready)")
    fast_reasons: bool = Field(
        default=False,
        description="reason codes from the TreeSHAP tables (they passed the parity gate at load); "
        "false: LightGBM's native TreeSHAP (the gate failed, or the model has no tables)",
    )
    reasons_parity: str = Field(default="", description="the parity gate's verdict at load, or why not run")


class KeyCreate(_Closed):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "onboarding", "label": "web onboarding"}]}
    )

    role: Literal["onboarding", "analyst", "operations", "admin"]
    label: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class KeyCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_id: str
    role: str
    label: str
    token: str = Field(description="shown once; only its hash is stored")


class ReloadResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    versions: dict[str, str]
    loaded_at: dt.datetime
