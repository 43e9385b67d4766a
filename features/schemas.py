"""Source schemas: the raw tables the platform (or ``creditdesk generate``) provides.

Conventions, shared by every table:
- keys are int64 (``customer_id``, ``application_id``, ``trade_id``);
- money is an int64 count of minor units (cents), named ``*_minor``; a per-share quote
  (``price``) is a float with 4 decimals, as exchanges quote it;
- times are ``datetime64[ns]`` (naive, exchange time); ``application_date`` is midnight of
  a trading day and every trade or cash flow used for a decision is strictly earlier;
- categories are plain strings from the fixed sets below.

``TABLES`` maps each table to its columns and dtypes; data contracts and the generator
read it, so a column exists in exactly one place.
"""

from __future__ import annotations

EMPLOYMENT = ("employed", "self_employed", "retired", "student", "unemployed")
REGIONS = ("north", "south", "east", "west", "central")
SIDES = ("buy", "sell")
CASH_FLOW_KINDS = ("deposit", "withdrawal")
DEFAULT_CAUSES = ("none", "credit_event", "margin_shortfall")

TABLES: dict[str, dict[str, str]] = {
    # KYC answers, one row per customer.
    "customers": {
        "customer_id": "int64",
        "age": "int16",
        "annual_income_minor": "int64",
        "net_worth_minor": "int64",
        "liquid_assets_minor": "int64",  # outside the platform
        "employment": "string",  # EMPLOYMENT
        "investing_experience_years": "int16",
        "risk_questionnaire_score": "int16",  # 0..100, higher = more risk appetite
        "region": "string",  # REGIONS
        "identity_verified": "bool",
        "is_pep": "bool",
        "pep_reviewed": "bool",
        "sanctions_hit": "bool",
        "account_opened_date": "datetime64[ns]",  # cash account on the platform
        "related_party": "bool",  # the broker's related party (cn admission refuses them)
    },
    # Credit-bureau pull at the application date, one row per customer.
    "bureau": {
        "customer_id": "int64",
        "bureau_score": "int16",  # 300..850
        "open_accounts": "int16",
        "credit_utilisation": "float64",  # revolving balance / limit, 0..1.5
        "delinquencies_24m": "int16",
        "inquiries_6m": "int16",
        "oldest_account_months": "int16",
        "debt_to_income": "float64",
        "bureau_default_24m": "bool",  # a reported default in the last 24 months
    },
    # Cash-account trades before the application date.
    "trades": {
        "trade_id": "int64",
        "customer_id": "int64",
        "timestamp": "datetime64[ns]",
        "ticker": "string",
        "side": "string",  # SIDES
        "quantity": "int64",  # > 0
        "price": "float64",  # per share, 4 decimals
        "fees_minor": "int64",
    },
    # Deposits to and withdrawals from the cash account before the application date.
    "cash_flows": {
        "customer_id": "int64",
        "timestamp": "datetime64[ns]",
        "kind": "string",  # CASH_FLOW_KINDS
        "amount_minor": "int64",  # > 0
    },
    # The margin application, one per customer.
    "applications": {
        "application_id": "int64",
        "customer_id": "int64",
        "application_date": "datetime64[ns]",
        "requested_line_minor": "int64",
        "platform_assets_minor": "int64",  # cash + holdings at the previous close
        # average of the daily assets over the last 20 trading days before the application
        # (cn admission: >= CNY 500,000, CSRC margin-business measures art. 11)
        "avg_daily_assets_20d_minor": "int64",
    },
    # What happened in the 12 months after the application date (labels; never features).
    "outcomes": {
        "application_id": "int64",
        "customer_id": "int64",
        "default_12m": "bool",
        "default_cause": "string",  # DEFAULT_CAUSES
        "default_date": "datetime64[ns]",  # NaT when no default
        "observation_end_date": "datetime64[ns]",
        "credit_limit_minor": "int64",
        "drawn_at_open_minor": "int64",
        "exposure_at_default_minor": "int64",  # 0 when no default
        "loss_minor": "int64",
        "recovery_minor": "int64",
        "margin_calls_12m": "int16",
        "liquidated": "bool",
    },
    # Instrument master for the traded universe (as known before the first application).
    "instruments": {
        "ticker": "string",
        "sector": "string",
        "volatility_annual": "float64",
        "adv_shares": "float64",  # average daily volume, shares on the adjusted prices' basis
        "adv_money": "float64",  # average daily money traded (split-invariant), currency units
        "volatile": "bool",  # volatility_annual in the top quintile of the universe
    },
    # Daily closes of the universe (split- and dividend-adjusted) over the population's dates.
    "prices": {
        "date": "datetime64[ns]",
        "ticker": "string",
        "close": "float64",
        "volume": "float64",
    },
}

RAW_TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "instruments", "prices")
LABEL_TABLES = ("outcomes",)
