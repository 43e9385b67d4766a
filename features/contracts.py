"""Data contracts: Great Expectations suites for the raw tables and for the feature table.

Why contracts and not asserts in the builders: a bad batch must be refused with a report a
data owner can act on (which rule, which column, which values), and the report is kept beside
the output. The suites run in an ephemeral (in-memory) GE context; no GE project is written
to disk (GE makes an empty temp dir for data docs, which we never build).

This module imports Great Expectations (about 3 s): only the batch job imports it, never the
serving process.

Summary format (JSON-safe), one entry per expectation; failed ones add counts and examples::

    {"table": "trades", "column": "quantity", "rule": "quantity > 0", "success": False,
     "unexpected_count": 2, "unexpected_percent": 0.1, "examples": [-5, 0], "expectation": "..."}

Cost: GE spends tens of milliseconds per expectation whatever the data size, so types and
null counts of every table are checked on one profile frame (one row per column), and details
are collected in a second pass for failed expectations only.

Cross-table rules (no trade at or after its application date, positions never negative,
dates in order, references) run on small derived frames named like ``trades×applications``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import creditdesk  # noqa: F401  (telemetry off before GE is imported)
from creditdesk.jsonsafe import json_safe
from features.catalogue import CATALOGUE, CATALOGUE_VERSION, KEYS
from features.schemas import CASH_FLOW_KINDS, DEFAULT_CAUSES, EMPLOYMENT, REGIONS, SIDES, TABLES

MAX_EXAMPLES = 5
# A nullable feature may be missing for many customers, but not for (nearly) all of them.
NULLABLE_MIN_PRESENT_SHARE = 0.01
NULL_RATE_MIN_ROWS = 100


@dataclass
class _Rule:
    expectation: Any
    table: str
    column: str
    rule: str


@dataclass
class _Suite:
    table: str
    frame: pd.DataFrame
    rules: list[_Rule] = field(default_factory=list)

    def add(self, expectation: Any, column: str, rule: str) -> None:
        self.rules.append(_Rule(expectation, self.table, column, rule))


def _gx() -> tuple[Any, Any]:
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def _dtype_ok(frame: pd.DataFrame, column: str, schema_type: str) -> bool:
    dtype = frame[column].dtype
    if schema_type == "string":
        if isinstance(dtype, pd.CategoricalDtype):  # parquet dictionary-encoded strings
            return dtype.categories.dtype.kind == "O" or isinstance(dtype.categories.dtype, pd.StringDtype)
        return dtype.kind == "O" or isinstance(dtype, pd.StringDtype)
    if schema_type == "datetime64[ns]":
        return str(dtype) == "datetime64[ns]"
    return str(dtype) == schema_type


def _schema_rules(
    suite: _Suite, gxe: Any, schema: Mapping[str, str], may_be_null: Iterable[str] = ()
) -> tuple[set[str], pd.DataFrame]:
    """Column set on the table itself; returns the well-typed columns and the table's profile.

    Types and null counts are checked on a profile (one row per column, see ``_profile_suite``)
    so a schema of 40 columns costs two expectations instead of 80; the examples still name
    each offending column, e.g. ``("trades.quantity: float64", "trades.quantity: int64")``.
    """
    frame = suite.frame
    suite.add(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(schema), exact_match=True),
        "*",
        f"columns are exactly {list(schema)}",
    )
    present = [c for c in schema if c in frame.columns]
    typed = {c for c in present if _dtype_ok(frame, c, schema[c])}
    nullable = set(may_be_null)
    nulls = {c: int(frame[c].isna().sum()) for c in present if c not in nullable}
    profile = pd.DataFrame(
        {
            "observed_type": [
                f"{suite.table}.{c}: {schema[c] if c in typed else frame[c].dtype}" for c in present
            ],
            "declared_type": [f"{suite.table}.{c}: {schema[c]}" for c in present],
            "nulls": [f"{suite.table}.{c}: {nulls[c]} nulls" if nulls.get(c) else "none" for c in present],
        }
    )
    return typed, profile


def _profile_suite(name: str, profiles: list[pd.DataFrame], gxe: Any) -> _Suite:
    suite = _Suite(name, pd.concat(profiles, ignore_index=True))
    suite.add(
        gxe.ExpectColumnPairValuesToBeEqual(column_A="observed_type", column_B="declared_type"),
        "*",
        "column types as declared",
    )
    suite.add(
        gxe.ExpectColumnValuesToBeInSet(column="nulls", value_set=["none"]),
        "*",
        "no nulls where the schema does not allow them",
    )
    return suite


def _between(
    suite: _Suite, gxe: Any, typed: set[str], column: str, low: float | None, high: float | None, **kw: Any
) -> None:
    if column not in typed:
        return
    low = None if low is None or math.isinf(low) else low
    high = None if high is None or math.isinf(high) else high
    strict_min = kw.get("strict_min", False)
    parts = []
    if low is not None:
        parts.append(f"{column} {'>' if strict_min else '>='} {low:g}")
    if high is not None:
        parts.append(f"{column} <= {high:g}")
    if not parts:
        return
    suite.add(
        gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, **kw),
        column,
        " and ".join(parts),
    )


def _in_set(suite: _Suite, gxe: Any, typed: set[str], column: str, allowed: Iterable[str]) -> None:
    if column in typed:
        values = sorted(allowed)
        suite.add(
            gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values), column, f"{column} in {values}"
        )


def _unique(suite: _Suite, gxe: Any, typed: set[str], column: str) -> None:
    if column in typed:
        suite.add(gxe.ExpectColumnValuesToBeUnique(column=column), column, f"{column} is unique")


def _raw_suites(tables: Mapping[str, pd.DataFrame], gxe: Any) -> list[_Suite]:
    suites: list[_Suite] = []
    profiles: list[pd.DataFrame] = []
    typed: dict[str, set[str]] = {}
    for name, frame in tables.items():
        if name not in TABLES:
            continue
        suite = _Suite(name, frame)
        typed[name], profile = _schema_rules(suite, gxe, TABLES[name], may_be_null=("default_date",))
        ok = typed[name]
        profiles.append(profile)
        if name == "customers":
            _unique(suite, gxe, ok, "customer_id")
            _between(suite, gxe, ok, "age", 0, 130)
            for column in ("annual_income_minor", "net_worth_minor", "liquid_assets_minor"):
                _between(suite, gxe, ok, column, 0, None)
            _between(suite, gxe, ok, "investing_experience_years", 0, 100)
            _between(suite, gxe, ok, "risk_questionnaire_score", 0, 100)
            _in_set(suite, gxe, ok, "employment", EMPLOYMENT)
            _in_set(suite, gxe, ok, "region", REGIONS)
        elif name == "bureau":
            _unique(suite, gxe, ok, "customer_id")
            _between(suite, gxe, ok, "bureau_score", 300, 850)
            _between(suite, gxe, ok, "credit_utilisation", 0, 1.5)
            for column in ("open_accounts", "delinquencies_24m", "inquiries_6m", "oldest_account_months"):
                _between(suite, gxe, ok, column, 0, None)
            _between(suite, gxe, ok, "debt_to_income", 0, None)
        elif name == "trades":
            _unique(suite, gxe, ok, "trade_id")
            _between(suite, gxe, ok, "quantity", 0, None, strict_min=True)
            _between(suite, gxe, ok, "price", 0, None, strict_min=True)
            _between(suite, gxe, ok, "fees_minor", 0, None)
            _in_set(suite, gxe, ok, "side", SIDES)
        elif name == "cash_flows":
            _between(suite, gxe, ok, "amount_minor", 0, None, strict_min=True)
            _in_set(suite, gxe, ok, "kind", CASH_FLOW_KINDS)
        elif name == "applications":
            _unique(suite, gxe, ok, "application_id")
            _unique(suite, gxe, ok, "customer_id")
            _between(suite, gxe, ok, "requested_line_minor", 0, None, strict_min=True)
            _between(suite, gxe, ok, "platform_assets_minor", 0, None)
        elif name == "instruments":
            _unique(suite, gxe, ok, "ticker")
            _between(suite, gxe, ok, "volatility_annual", 0, None)
            _between(suite, gxe, ok, "adv_shares", 0, None)
            _between(suite, gxe, ok, "adv_money", 0, None)
        elif name == "prices":
            if {"date", "ticker"} <= ok:
                suite.add(
                    gxe.ExpectCompoundColumnsToBeUnique(column_list=["date", "ticker"]),
                    "date,ticker",
                    "one price per (date, ticker)",
                )
            _between(suite, gxe, ok, "close", 0, None, strict_min=True)
            _between(suite, gxe, ok, "volume", 0, None)
        elif name == "outcomes":
            _unique(suite, gxe, ok, "application_id")
            _in_set(suite, gxe, ok, "default_cause", DEFAULT_CAUSES)
            for column in (
                "credit_limit_minor",
                "drawn_at_open_minor",
                "exposure_at_default_minor",
                "loss_minor",
                "margin_calls_12m",
            ):
                _between(suite, gxe, ok, column, 0, None)
            if {"credit_limit_minor", "drawn_at_open_minor"} <= ok:
                suite.add(
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                        column_A="credit_limit_minor", column_B="drawn_at_open_minor", or_equal=True
                    ),
                    "drawn_at_open_minor",
                    "drawn at open <= credit limit",
                )
        suites.append(suite)
    if profiles:  # one schema check for all tables: GE's cost is per suite and per expectation
        suites.insert(0, _profile_suite("raw tables", profiles, gxe))
    suites.extend(_cross_suites(tables, typed, gxe))
    return suites


def _lookup(keys: pd.Series, table: pd.DataFrame, value: str) -> np.ndarray:
    """``table[value]`` of each customer in ``keys`` (first row per customer); NaT when absent."""
    first = table.drop_duplicates("customer_id")
    pos = pd.Index(first["customer_id"].to_numpy()).get_indexer(keys.to_numpy())
    values = np.asarray(first[value].to_numpy(), dtype="datetime64[ns]")
    out = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[pos >= 0] = values[pos[pos >= 0]]
    return out


def _cross_suites(
    tables: Mapping[str, pd.DataFrame], typed: Mapping[str, set[str]], gxe: Any
) -> list[_Suite]:
    suites: list[_Suite] = []

    def ok(table: str, *columns: str) -> bool:
        return table in typed and set(columns) <= typed[table]

    if ok("applications", "customer_id", "application_date") and ok(
        "customers", "customer_id", "account_opened_date"
    ):
        apps = tables["applications"]
        frame = pd.DataFrame(
            {
                "customer_id": apps["customer_id"].to_numpy(),
                "application_date": apps["application_date"].to_numpy(),
                "account_opened_date": _lookup(
                    apps["customer_id"], tables["customers"], "account_opened_date"
                ),
            }
        )
        suite = _Suite("applications×customers", frame)
        suite.add(
            gxe.ExpectColumnValuesToNotBeNull(column="account_opened_date"),
            "customer_id",
            "every application has a customer",
        )
        suite.add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="application_date",
                column_B="account_opened_date",
                or_equal=False,
                ignore_row_if="either_value_is_missing",
            ),
            "application_date",
            "account opened before the application date",
        )
        if ok("bureau", "customer_id"):
            known = apps["customer_id"].isin(tables["bureau"]["customer_id"])
            suite.frame["has_bureau"] = known.to_numpy()
            suite.add(
                gxe.ExpectColumnValuesToBeInSet(column="has_bureau", value_set=[True]),
                "customer_id",
                "every application has a bureau record",
            )
        suites.append(suite)

    if ok("applications", "customer_id", "application_date"):
        for table, id_column in (("trades", "trade_id"), ("cash_flows", "customer_id")):
            if not ok(table, "customer_id", "timestamp"):
                continue
            events = tables[table]
            frame = pd.DataFrame(
                {
                    id_column: events[id_column].to_numpy(),
                    "timestamp": events["timestamp"].to_numpy(),
                    "application_date": _lookup(
                        events["customer_id"], tables["applications"], "application_date"
                    ),
                }
            )
            if ok("customers", "customer_id", "account_opened_date"):
                frame["account_opened_date"] = _lookup(
                    events["customer_id"], tables["customers"], "account_opened_date"
                )
            suite = _Suite(f"{table}×applications", frame)
            suite.add(
                gxe.ExpectColumnValuesToNotBeNull(column="application_date"),
                "customer_id",
                f"every {table} row belongs to a customer with an application",
            )
            suite.add(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="application_date",
                    column_B="timestamp",
                    or_equal=False,
                    ignore_row_if="either_value_is_missing",
                ),
                "timestamp",
                f"no {table} row at or after its application date",
            )
            if "account_opened_date" in frame.columns:
                suite.add(
                    gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                        column_A="timestamp",
                        column_B="account_opened_date",
                        or_equal=True,
                        ignore_row_if="either_value_is_missing",
                    ),
                    "timestamp",
                    f"no {table} row before the account was opened",
                )
            suites.append(suite)

    if ok("trades", "trade_id", "customer_id", "timestamp", "ticker", "side", "quantity"):
        trades = tables["trades"].sort_values(
            ["customer_id", "ticker", "timestamp", "trade_id"], kind="stable"
        )
        signed = np.where(trades["side"].to_numpy() == "sell", -1, 1) * trades["quantity"].to_numpy()
        keys = [trades["customer_id"], trades["ticker"]]
        held = pd.Series(signed, index=trades.index).groupby(keys, observed=True).cumsum()
        frame = pd.DataFrame(
            {"trade_id": trades["trade_id"].to_numpy(), "shares_held_after": held.to_numpy()}
        )
        suite = _Suite("trades(positions)", frame)
        suite.add(
            gxe.ExpectColumnValuesToBeBetween(column="shares_held_after", min_value=0),
            "quantity",
            "no sell exceeds the shares held (positions never negative)",
        )
        suites.append(suite)
        if ok("instruments", "ticker"):
            suite = _Suite("trades×instruments", tables["trades"][["ticker"]])
            known = sorted(tables["instruments"]["ticker"].astype(str).unique())
            suite.add(
                gxe.ExpectColumnValuesToBeInSet(column="ticker", value_set=known),
                "ticker",
                "every traded ticker is in the instrument master",
            )
            suites.append(suite)

    if ok("outcomes", "application_id", "default_date", "observation_end_date") and ok(
        "applications", "application_id", "application_date"
    ):
        outcomes = tables["outcomes"]
        apps = tables["applications"].rename(columns={"application_id": "_key"})
        index = pd.Index(apps["_key"].to_numpy())
        pos = index.get_indexer(outcomes["application_id"].to_numpy())
        app_date = apps["application_date"].to_numpy()[np.maximum(pos, 0)] if len(apps) else None
        frame = pd.DataFrame(
            {
                "application_id": outcomes["application_id"].to_numpy(),
                "known_application": pos >= 0,
                "application_date": app_date,
                "default_date": outcomes["default_date"].to_numpy(),
                "observation_end_date": outcomes["observation_end_date"].to_numpy(),
            }
        )
        suite = _Suite("outcomes×applications", frame)
        suite.add(
            gxe.ExpectColumnValuesToBeInSet(column="known_application", value_set=[True]),
            "application_id",
            "every outcome has an application",
        )
        suite.add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="observation_end_date", column_B="application_date", or_equal=False
            ),
            "observation_end_date",
            "observation ends after the application date",
        )
        suite.add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="default_date",
                column_B="application_date",
                or_equal=False,
                ignore_row_if="either_value_is_missing",
            ),
            "default_date",
            "default strictly after the application date",
        )
        suites.append(suite)
    return suites


def _feature_suites(frame: pd.DataFrame, gxe: Any) -> list[_Suite]:
    suite = _Suite("features", frame)
    schema = {"application_id": "int64", "customer_id": "int64", "application_date": "datetime64[ns]"}
    schema.update({f.name: f.dtype for f in CATALOGUE})
    assert tuple(schema)[: len(KEYS)] == KEYS
    ok, profile = _schema_rules(suite, gxe, schema, may_be_null=[f.name for f in CATALOGUE if f.nullable])
    _unique(suite, gxe, ok, "application_id")
    for feature in CATALOGUE:
        if feature.name not in ok:
            continue
        _between(suite, gxe, ok, feature.name, feature.low, feature.high)
        if feature.nullable and len(frame) >= NULL_RATE_MIN_ROWS:
            suite.add(
                gxe.ExpectColumnValuesToNotBeNull(column=feature.name, mostly=NULLABLE_MIN_PRESENT_SHARE),
                feature.name,
                f"{feature.name} present for at least {NULLABLE_MIN_PRESENT_SHARE:.0%} of rows",
            )
    return [_profile_suite("features", [profile], gxe), suite]


def _validate(
    context: Any, source: Any, name: str, frame: pd.DataFrame, rules: list[_Rule], fmt: str
) -> list[Any]:
    gx, _ = _gx()
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    expectations = []
    for j, rule in enumerate(rules):
        expectation = rule.expectation.copy(deep=True)  # a fresh object per suite (GE assigns ids)
        expectation.id = None
        expectation.meta = {"rule_index": j}
        expectations.append(expectation)
    # Built in one go: add_expectation compares each new expectation with all the others.
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": fmt, "partial_unexpected_count": MAX_EXAMPLES},
    )
    return list(result.results)


def _failed(item: Any) -> bool:
    return not item.success or bool(item.exception_info and item.exception_info.get("raised_exception"))


def _run(suites: list[_Suite]) -> list[dict[str, Any]]:
    """Validate every suite; details (counts, examples) only for what failed.

    GE's cost is per expectation and about four times higher for a SUMMARY result than for a
    yes/no one, so a first pass answers yes/no for everything and a second pass, on the failed
    expectations only, collects counts and examples.
    """
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"creditdesk-{uuid.uuid4().hex[:8]}")
    out: list[dict[str, Any]] = []
    for i, suite in enumerate(suites):
        if not suite.rules:
            continue
        passed = {}
        failed_rules = []
        for item in _validate(context, source, f"s{i}", suite.frame, suite.rules, "BOOLEAN_ONLY"):
            rule = suite.rules[int(item.expectation_config.meta["rule_index"])]
            if _failed(item):
                failed_rules.append(rule)
            else:
                passed[id(rule)] = item
        details_of = {}
        if failed_rules:
            for item in _validate(context, source, f"s{i}-detail", suite.frame, failed_rules, "SUMMARY"):
                details_of[id(failed_rules[int(item.expectation_config.meta["rule_index"])])] = item
        for rule in suite.rules:
            item = passed.get(id(rule)) or details_of[id(rule)]
            out.append(_entry(rule, item))
    return out


def _entry(rule: _Rule, item: Any) -> dict[str, Any]:
    details = item.result or {}
    entry: dict[str, Any] = {
        "table": rule.table,
        "column": rule.column,
        "rule": rule.rule,
        "success": not _failed(item),
        "expectation": item.expectation_config.type,
    }
    if entry["success"]:
        return entry
    if "unexpected_count" in details:
        entry["unexpected_count"] = int(details["unexpected_count"] or 0)
        entry["unexpected_percent"] = round(float(details.get("unexpected_percent") or 0.0), 4)
        entry["examples"] = json_safe(details.get("partial_unexpected_list", [])[:MAX_EXAMPLES], as_text=True)
    elif "observed_value" in details:
        entry["examples"] = json_safe(details["observed_value"], as_text=True)
    if item.exception_info and item.exception_info.get("raised_exception"):
        entry["error"] = " ".join(str(item.exception_info.get("exception_message", "")).split())[:300]
    return entry


def _summary(kind: str, results: list[dict[str, Any]], rows: Mapping[str, int]) -> dict[str, Any]:
    failed = [r for r in results if not r["success"]]
    return {
        "contract": kind,
        "success": not failed,
        "catalogue_version": CATALOGUE_VERSION,
        "rows": dict(rows),
        "evaluated": len(results),
        "failed": len(failed),
        "expectations": results,
    }


def validate_raw(tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """Run the raw-table contracts (and the cross-table rules) on every table given."""
    _, gxe = _gx()
    suites = _raw_suites(tables, gxe)
    return _summary("raw", _run(suites), {name: len(frame) for name, frame in tables.items()})


def validate_features(frame: pd.DataFrame) -> dict[str, Any]:
    """Run the feature-table contract (catalogue columns, types, ranges, nulls, unique keys)."""
    _, gxe = _gx()
    return _summary("features", _run(_feature_suites(frame, gxe)), {"features": len(frame)})


def failure_lines(summary: Mapping[str, Any], limit: int = 20) -> list[str]:
    """One readable line per failed expectation: table.column: rule (count, examples)."""
    lines = []
    for entry in summary["expectations"]:
        if entry["success"]:
            continue
        where = entry["table"] if entry["column"] == "*" else f"{entry['table']}.{entry['column']}"
        detail = []
        if entry.get("unexpected_count"):
            detail.append(f"{entry['unexpected_count']} rows")
        if entry.get("examples") not in (None, []):
            detail.append(f"e.g. {entry['examples']}")
        if entry.get("error"):
            detail.append(entry["error"])
        lines.append(f"{where}: {entry['rule']}" + (f" ({'; '.join(detail)})" if detail else ""))
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines
