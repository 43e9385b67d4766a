"""Data contracts (Great Expectations): each kind of bad batch is caught and named.

GE costs a fraction of a second per suite, so the corrupted population carries one defect
per table and is validated once; each test then reads its own failure from the summary.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.builders import build_features
from features.catalogue import CATALOGUE_VERSION
from tests.features.feature_tables import hand_made

contracts = pytest.importorskip("features.contracts")


def clean_tables() -> dict[str, pd.DataFrame]:
    """The worked example without its deliberate after-the-application events."""
    tables = hand_made()
    tables["trades"] = tables["trades"][tables["trades"]["trade_id"] != 8].reset_index(drop=True)
    flows = tables["cash_flows"]
    tables["cash_flows"] = flows[flows["timestamp"] < pd.Timestamp("2021-01-04")].reset_index(drop=True)
    return tables


def corrupted_tables() -> dict[str, pd.DataFrame]:
    tables = {name: frame.copy() for name, frame in clean_tables().items()}
    tables["customers"]["shoe_size"] = 42  # unknown column
    tables["customers"].loc[1, "account_opened_date"] = pd.Timestamp("2021-03-01")  # after the application
    tables["bureau"] = tables["bureau"].drop(columns=["inquiries_6m"])  # missing column
    tables["applications"]["requested_line_minor"] = tables["applications"]["requested_line_minor"].astype(
        float
    )
    trades = tables["trades"]
    trades.loc[trades["trade_id"] == 4, "quantity"] = -5  # negative quantity
    trades.loc[trades["trade_id"] == 7, "trade_id"] = 6  # duplicate key
    trades.loc[trades["trade_id"] == 5, "side"] = "short"  # unknown category
    trades.loc[trades["trade_id"] == 1, "timestamp"] = pd.Timestamp("2021-01-05")  # after its application
    tables["cash_flows"].loc[0, "amount_minor"] = 0
    return tables


@pytest.fixture(scope="module")
def clean_summary() -> dict[str, Any]:
    return contracts.validate_raw(clean_tables())


@pytest.fixture(scope="module")
def bad_summary() -> dict[str, Any]:
    return contracts.validate_raw(corrupted_tables())


def failures(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in summary["expectations"] if not e["success"]]


def find(summary: dict[str, Any], table: str, rule_part: str) -> dict[str, Any]:
    hits = [e for e in failures(summary) if e["table"] == table and rule_part in e["rule"]]
    assert hits, (
        f"no failure {table}: {rule_part!r} in {[(e['table'], e['rule']) for e in failures(summary)]}"
    )
    return hits[0]


def test_clean_population_passes_every_expectation(clean_summary: dict[str, Any]) -> None:
    assert failures(clean_summary) == []
    assert clean_summary["success"] is True
    assert clean_summary["evaluated"] > 40
    assert clean_summary["catalogue_version"] == CATALOGUE_VERSION
    json.dumps(clean_summary)  # the summary is written as JSON beside the output


def test_unknown_and_missing_columns_are_named(bad_summary: dict[str, Any]) -> None:
    customers = find(bad_summary, "customers", "columns are exactly")
    assert "shoe_size" in json.dumps(customers["examples"])
    bureau = find(bad_summary, "bureau", "columns are exactly")
    assert "inquiries_6m" not in bureau["examples"]


def test_wrong_type_names_the_column_and_both_types(bad_summary: dict[str, Any]) -> None:
    entry = find(bad_summary, "raw tables", "column types")
    assert entry["examples"] == [
        ["applications.requested_line_minor: float64", "applications.requested_line_minor: int64"]
    ]


def test_negative_quantity_and_zero_amount(bad_summary: dict[str, Any]) -> None:
    entry = find(bad_summary, "trades", "quantity > 0")
    assert entry["unexpected_count"] == 1 and entry["examples"] == [-5]
    assert find(bad_summary, "cash_flows", "amount_minor > 0")["examples"] == [0]


def test_duplicate_keys(bad_summary: dict[str, Any]) -> None:
    entry = find(bad_summary, "trades", "trade_id is unique")
    assert entry["examples"] == [6, 6]


def test_unknown_category(bad_summary: dict[str, Any]) -> None:
    assert find(bad_summary, "trades", "side in")["examples"] == ["short"]


def test_dates_out_of_order(bad_summary: dict[str, Any]) -> None:
    after = find(bad_summary, "trades×applications", "no trades row at or after its application date")
    assert after["unexpected_count"] == 1
    assert "2021-01-05" in json.dumps(after["examples"])
    opened = find(bad_summary, "applications×customers", "account opened before the application date")
    assert opened["unexpected_count"] == 1


def test_failure_lines_are_one_readable_line_each(bad_summary: dict[str, Any]) -> None:
    lines = contracts.failure_lines(bad_summary)
    assert len(lines) == len(failures(bad_summary)) >= 8
    assert any(line.startswith("trades.quantity: quantity > 0 (1 rows; e.g. [-5])") for line in lines)
    assert all("\n" not in line for line in lines)


def test_sell_beyond_holdings_breaks_the_position_rule() -> None:
    tables = clean_tables()
    tables["trades"].loc[tables["trades"]["trade_id"] == 3, "quantity"] = 250
    summary = contracts.validate_raw({"trades": tables["trades"]})
    entry = find(summary, "trades(positions)", "never negative")
    assert entry["examples"] == [-50, -20]  # the later buy of 30 AAA leaves it short still


def test_feature_table_contract() -> None:
    features = build_features(clean_tables())
    assert contracts.validate_features(features)["success"] is True
    bad = features.copy()
    bad.loc[0, "win_rate"] = 1.5  # out of range
    bad.loc[1, "bureau_score"] = np.nan  # null in a non-nullable feature
    bad.loc[1, "application_id"] = bad.loc[0, "application_id"]  # duplicate key
    bad["extra"] = 0.0
    summary = contracts.validate_features(bad)
    assert summary["success"] is False
    assert find(summary, "features", "win_rate >= 0 and win_rate <= 1")["examples"] == [1.5]
    assert find(summary, "features", "application_id is unique")["unexpected_count"] == 2
    assert find(summary, "features", "no nulls")["examples"] == ["features.bureau_score: 1 nulls"]
    assert "extra" in json.dumps(find(summary, "features", "columns are exactly")["examples"])
