"""Batch decisions: a scored batch + the raw application data -> priced decisions.

The same ``pricing.decision.decide`` the API calls for one applicant runs here over the
whole batch; the knock-out fields come from the raw KYC and bureau tables, trading history
from the feature table's ``account_age_days`` (the value the API uses online) and the cn
admission's 20-day average daily assets and related-party flag from the raw tables when a
population carries them, so the batch and the API cannot disagree on what a decision means.
The output carries every ``decide`` input column too, so it is a valid ``creditdesk simulate
--applications`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from creditdesk.atomic import write_parquet_atomic
from creditdesk.errors import InputError

RAW_DECISION_COLUMNS: dict[str, list[str]] = {
    "applications": ["application_id", "customer_id", "requested_line_minor", "platform_assets_minor"],
    "customers": [
        "customer_id",
        "age",
        "annual_income_minor",
        "identity_verified",
        "is_pep",
        "pep_reviewed",
        "sanctions_hit",
    ],
    "bureau": ["customer_id", "bureau_default_24m"],
}
# Knock-out inputs a population may carry (generated ones do since issue 13); when absent the
# decision falls back as ``decide`` documents (platform assets stand in, no related party).
OPTIONAL_DECISION_COLUMNS: dict[str, list[str]] = {
    "applications": ["avg_daily_assets_20d_minor"],
    "customers": ["related_party"],
}


def _raw_columns(name: str, available: Any) -> list[str]:
    """The decision's columns of raw table ``name``: the required ones and the optional present."""
    return RAW_DECISION_COLUMNS[name] + [c for c in OPTIONAL_DECISION_COLUMNS.get(name, []) if c in available]


def decision_frame(
    scored: pd.DataFrame, feats: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Join model outputs (``pd_12m, grade, lgd, ccf``), ``account_age_days`` and the raw
    KYC / bureau / application columns into one row per scored application."""
    frame = (
        scored[["application_id", "pd_12m", "grade", "lgd", "ccf"]]
        .merge(
            feats[["application_id", "account_age_days"]], on="application_id", how="inner", validate="1:1"
        )
        .merge(
            tables["applications"][_raw_columns("applications", tables["applications"].columns)],
            on="application_id",
            how="inner",
            validate="1:1",
        )
        .merge(
            tables["customers"][_raw_columns("customers", tables["customers"].columns)],
            on="customer_id",
            how="inner",
            validate="m:1",
        )
        .merge(
            tables["bureau"][RAW_DECISION_COLUMNS["bureau"]], on="customer_id", how="inner", validate="m:1"
        )
    )
    if len(frame) != len(scored):
        raise InputError(f"{len(scored) - len(frame)} scored application(s) have no raw KYC/bureau row")
    return frame.rename(columns={"account_age_days": "trading_history_days"})


def decision_inputs(raw_dir: Path, features_path: Path, scored_path: Path) -> pd.DataFrame:
    """One row per scored application with every ``decide`` input column."""
    for path in (features_path, scored_path):
        if not path.exists():
            raise InputError(f"{path}: file not found")
    scored = pd.read_parquet(scored_path, columns=["application_id", "pd_12m", "grade", "lgd", "ccf"])
    feats = pd.read_parquet(features_path, columns=["application_id", "account_age_days"])
    tables = {}
    for name in RAW_DECISION_COLUMNS:
        path = Path(raw_dir) / f"{name}.parquet"
        if not path.exists():
            raise InputError(f"{path}: file not found")
        import pyarrow.parquet as pq

        tables[name] = pd.read_parquet(path, columns=_raw_columns(name, pq.read_schema(path).names))
    return decision_frame(scored, feats, tables)


def decided_frame(inputs: pd.DataFrame, policy: Any) -> pd.DataFrame:
    """``pricing.decision.decide`` over the inputs: inputs and decision columns side by side."""
    from pricing.decision import decide

    decided = decide(inputs, policy).to_frame()
    overlap = [c for c in decided.columns if c in inputs.columns]
    frame = pd.concat([inputs.reset_index(drop=True), decided.drop(columns=overlap)], axis=1)
    frame["policy_version"] = policy.version
    frame["policy_hash"] = policy.policy_hash
    frame["regime"], frame["currency"] = policy.regime, policy.currency
    return frame


def decide_batch(
    raw_dir: Path, features_path: Path, scored_path: Path, out_path: Path, policy_path: Path | None = None
) -> dict[str, Any]:
    """Decide every scored application; write the decisions; return the portfolio view."""
    from pricing.policy import load_policy
    from pricing.portfolio import portfolio_summary

    policy = load_policy(policy_path)
    frame = decided_frame(decision_inputs(raw_dir, features_path, scored_path), policy)
    write_parquet_atomic(frame, out_path)
    summary = portfolio_summary(frame, policy).to_dict()
    counts = frame["outcome"].value_counts().to_dict()
    return {"decisions": len(frame), "outcomes": {str(k): int(v) for k, v in counts.items()}, **summary}
