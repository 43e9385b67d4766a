"""The feature catalogue: the one list of model features, their meaning and their limits.

Models read it for column order and monotone constraints, reason codes for the plain-language
text, data contracts for types, ranges and null rules. Nothing else lists features: adding one
here (and to a builder in ``features/builders.py``) is the whole change.

Every feature is a float64 so the online path is one numpy row. Categories are one-hot columns
declared here (``employment_*``); amounts are ratios or bands so a model trained on one
currency's scale does not learn the size of the currency. Region is deliberately *not* a
feature: it adds little signal and is a proxy for protected characteristics in fair-lending
review.

Missing values: a few trading features are undefined for some customers (no closed round trip,
no open holdings). They are NaN, declared ``nullable=True``, never filled with a number that
would mean something else (a zero HHI would read as "perfectly diversified"). LightGBM and the
WoE scorecard treat NaN as its own bin.

``CATALOGUE_VERSION`` is a hash of the declarations: a model records it at training time and the
service refuses to score with a catalogue that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

Source = Literal["kyc", "bureau", "trading", "application"]

# Band edges in major currency units; band k means edges[k-1] <= x < edges[k].
INCOME_BAND_EDGES_MAJOR: tuple[float, ...] = (25_000.0, 50_000.0, 100_000.0, 250_000.0, 1_000_000.0)
NET_WORTH_BAND_EDGES_MAJOR: tuple[float, ...] = (50_000.0, 250_000.0, 1_000_000.0, 5_000_000.0)
EMPLOYMENT_CODES: tuple[str, ...] = ("employed", "self_employed", "retired", "student", "unemployed")
# A thin bureau file: too little history for the score to mean much.
THIN_FILE_MAX_OPEN_ACCOUNTS = 1
THIN_FILE_MAX_OLDEST_MONTHS = 12
# Trading windows and thresholds.
RECENT_WINDOW_DAYS = 365
ILLIQUID_ADV_QUANTILE = 0.2  # bottom quintile of average daily volume in the instrument master


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    source: Source
    unit: str
    description: str  # plain language; reason codes show it to applicants and analysts
    monotone: int  # +1: PD rises with the feature, -1: PD falls, 0: no constraint
    low: float
    high: float
    nullable: bool = False  # NaN allowed (the feature is undefined for some customers)

    def __post_init__(self) -> None:
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"{self.name}: monotone must be -1, 0 or +1")
        if not self.low <= self.high:
            raise ValueError(f"{self.name}: low must not exceed high")


INF = float("inf")

CATALOGUE: tuple[Feature, ...] = (
    # --- KYC ---------------------------------------------------------------------------------
    Feature("age_years", "float64", "kyc", "years", "Age of the applicant", 0, 0, 130),
    Feature(
        "income_band",
        "float64",
        "kyc",
        "band 0-5",
        "Annual income band (0: under 25k, 5: 1M or more)",
        -1,
        0,
        5,
    ),
    Feature(
        "net_worth_band",
        "float64",
        "kyc",
        "band 0-4",
        "Declared net worth band (0: under 50k, 4: 5M or more)",
        -1,
        0,
        4,
    ),
    Feature(
        "liquid_assets_to_line",
        "float64",
        "kyc",
        "ratio",
        "Liquid assets held outside the platform relative to the requested credit line",
        -1,
        0,
        INF,
    ),
    Feature(
        "investing_experience_years",
        "float64",
        "kyc",
        "years",
        "Years of investing experience declared by the applicant",
        -1,
        0,
        80,
    ),
    Feature(
        "risk_questionnaire_score",
        "float64",
        "kyc",
        "score 0-100",
        "Risk appetite stated in the suitability questionnaire",
        1,
        0,
        100,
    ),
    Feature("employment_employed", "float64", "kyc", "0/1", "Employed", 0, 0, 1),
    Feature("employment_self_employed", "float64", "kyc", "0/1", "Self-employed", 0, 0, 1),
    Feature("employment_retired", "float64", "kyc", "0/1", "Retired", 0, 0, 1),
    Feature("employment_student", "float64", "kyc", "0/1", "Student", 0, 0, 1),
    Feature("employment_unemployed", "float64", "kyc", "0/1", "Not employed", 0, 0, 1),
    Feature("identity_verified", "float64", "kyc", "0/1", "Identity verified", 0, 0, 1),
    Feature(
        "pep_unreviewed",
        "float64",
        "kyc",
        "0/1",
        "Politically exposed person without a completed review",
        0,
        0,
        1,
    ),
    Feature("sanctions_hit", "float64", "kyc", "0/1", "Possible match on a sanctions list", 0, 0, 1),
    # --- bureau ------------------------------------------------------------------------------
    Feature("bureau_score", "float64", "bureau", "points 300-850", "Credit bureau score", -1, 300, 850),
    Feature(
        "open_accounts",
        "float64",
        "bureau",
        "count",
        "Number of open credit accounts",
        0,
        0,
        1000,
    ),
    Feature(
        "credit_utilisation",
        "float64",
        "bureau",
        "ratio",
        "Share of revolving credit limits in use",
        1,
        0,
        1.5,
    ),
    Feature(
        "delinquencies_24m",
        "float64",
        "bureau",
        "count",
        "Bureau delinquencies in the last 24 months",
        1,
        0,
        1000,
    ),
    Feature(
        "inquiries_6m",
        "float64",
        "bureau",
        "count",
        "Credit applications (hard inquiries) in the last 6 months",
        1,
        0,
        1000,
    ),
    Feature(
        "oldest_account_months",
        "float64",
        "bureau",
        "months",
        "Age of the oldest credit account",
        -1,
        0,
        1200,
    ),
    Feature(
        "debt_to_income",
        "float64",
        "bureau",
        "ratio",
        "Debt payments relative to income",
        1,
        0,
        INF,
    ),
    Feature(
        "bureau_default_24m",
        "float64",
        "bureau",
        "0/1",
        "A default reported to the bureau in the last 24 months",
        1,
        0,
        1,
    ),
    Feature(
        "thin_file",
        "float64",
        "bureau",
        "0/1",
        "Too little credit history at the bureau (at most one account or under a year old)",
        1,
        0,
        1,
    ),
    # --- application -------------------------------------------------------------------------
    Feature(
        "requested_line_to_assets",
        "float64",
        "application",
        "ratio",
        "Requested credit line relative to assets held on the platform",
        1,
        0,
        INF,
    ),
    Feature(
        "platform_assets_log10",
        "float64",
        "application",
        "log10 of major units",
        "Size of the assets held on the platform",
        -1,
        0,
        15,
    ),
    # --- trading behaviour, strictly before the application date ----------------------------
    Feature(
        "account_age_days",
        "float64",
        "trading",
        "days",
        "How long the trading account has been open",
        -1,
        0,
        36_525,
    ),
    Feature("trade_count", "float64", "trading", "count", "Number of trades on the platform", 0, 0, INF),
    Feature(
        "trades_per_month",
        "float64",
        "trading",
        "trades per 30 days",
        "How often the applicant trades",
        1,
        0,
        INF,
    ),
    Feature(
        "turnover_12m_to_assets",
        "float64",
        "trading",
        "ratio",
        "Value traded in the last 12 months relative to platform assets",
        1,
        0,
        INF,
    ),
    Feature(
        "days_since_last_trade",
        "float64",
        "trading",
        "days",
        "Days since the last trade",
        0,
        0,
        36_525,
        nullable=True,
    ),
    Feature(
        "closed_round_trips",
        "float64",
        "trading",
        "count",
        "Positions bought and fully sold again",
        0,
        0,
        INF,
    ),
    Feature(
        "avg_holding_days",
        "float64",
        "trading",
        "days",
        "Average time shares are held before being sold",
        -1,
        0,
        36_525,
        nullable=True,
    ),
    Feature(
        "win_rate",
        "float64",
        "trading",
        "share",
        "Share of closed positions sold at a profit",
        -1,
        0,
        1,
        nullable=True,
    ),
    Feature(
        "pnl_return_volatility",
        "float64",
        "trading",
        "return std",
        "Volatility of returns on closed positions",
        1,
        0,
        INF,
        nullable=True,
    ),
    Feature(
        "realised_pnl_to_capital",
        "float64",
        "trading",
        "ratio",
        "Realised trading profit or loss relative to the capital put in",
        -1,
        -INF,
        INF,
    ),
    Feature(
        "max_drawdown_to_capital",
        "float64",
        "trading",
        "ratio",
        "Largest fall of realised trading profit from its high, relative to the capital put in",
        1,
        0,
        INF,
    ),
    Feature("open_positions", "float64", "trading", "count", "Number of shares held", 0, 0, INF),
    Feature(
        "holdings_hhi",
        "float64",
        "trading",
        "HHI 0-1",
        "Concentration of holdings in few names",
        1,
        0,
        1,
        nullable=True,
    ),
    Feature(
        "volatile_share_holdings",
        "float64",
        "trading",
        "share",
        "Share of holdings in highly volatile shares",
        1,
        0,
        1,
        nullable=True,
    ),
    Feature(
        "illiquid_share_holdings",
        "float64",
        "trading",
        "share",
        "Share of holdings in thinly traded shares",
        1,
        0,
        1,
        nullable=True,
    ),
    Feature(
        "deposits_12m_to_assets",
        "float64",
        "trading",
        "ratio",
        "Deposits in the last 12 months relative to platform assets",
        0,
        0,
        INF,
    ),
    Feature(
        "withdrawals_12m_to_assets",
        "float64",
        "trading",
        "ratio",
        "Withdrawals in the last 12 months relative to platform assets",
        1,
        0,
        INF,
    ),
)

KEYS: tuple[str, ...] = ("application_id", "customer_id", "application_date")

_BY_NAME: dict[str, Feature] = {f.name: f for f in CATALOGUE}
if len(_BY_NAME) != len(CATALOGUE):
    raise RuntimeError("duplicate feature name in CATALOGUE")


def catalogue_version(features: Iterable[Feature]) -> str:
    """A hash of the declarations in order: any change to a feature (or to the order) changes it."""
    return hashlib.sha256(json.dumps([asdict(f) for f in features], sort_keys=True).encode()).hexdigest()[:12]


CATALOGUE_VERSION: str = catalogue_version(CATALOGUE)


def feature_names(source: Source | None = None) -> list[str]:
    """Model columns in catalogue order (optionally only those from one source)."""
    return [f.name for f in CATALOGUE if source is None or f.source == source]


def get(name: str) -> Feature:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}; the catalogue has {len(CATALOGUE)} features") from None


def monotone_constraints(names: Iterable[str]) -> list[int]:
    """LightGBM ``monotone_constraints`` for ``names`` in the order given."""
    return [get(n).monotone for n in names]
