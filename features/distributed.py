"""The trading-behaviour builder on Dask, for populations that do not fit one process.

Why it gives the same numbers as pandas: every trading feature depends on one customer's
events only, and the numpy core (``features.builders.trading_block``) computes each customer's
segment the same way whatever else is in the batch. So we partition applications, trades and
cash flows by ``customer_id`` with identical divisions and run the pandas builder on each
partition with ``map_partitions``; no feature crosses a partition boundary.

The instrument index (a few hundred tickers) is built once and shipped to every task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from features.builders import TRADING_FEATURES, InstrumentIndex, trading_features

MAX_PARTITIONS = 10_000


def _divisions(customer_ids: np.ndarray, npartitions: int) -> list[int]:
    """Customer-id boundaries giving partitions of about equal numbers of applications."""
    ids = np.unique(customer_ids)
    if len(ids) == 0:
        raise InputError("applications: empty table, nothing to build", field="applications")
    npartitions = max(1, min(npartitions, len(ids)))
    cuts = ids[np.linspace(0, len(ids) - 1, npartitions + 1).round().astype(np.int64)]
    return sorted({int(c) for c in cuts})


def _identity(part: pd.DataFrame) -> pd.DataFrame:
    return part


def _partitioned(frame: pd.DataFrame, divisions: list[int]) -> Any:
    """``frame`` as a Dask frame indexed by customer with exactly ``divisions``.

    Dask's convention: partition i holds ids in [d[i], d[i+1]), the last one [d[-2], d[-1]].
    Events of customers outside that range cannot match an application and are left out.
    """
    import dask.dataframe as dd

    ids = frame["customer_id"].to_numpy(dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ordered = frame.iloc[order]
    ordered.index = pd.Index(ids[order], name="customer_key")
    starts = np.searchsorted(ids[order], divisions[:-1], side="left")
    ends = [*starts[1:], int(np.searchsorted(ids[order], divisions[-1], side="right"))]
    pieces = [ordered.iloc[start:end] for start, end in zip(starts, ends, strict=True)]
    return dd.from_map(_identity, pieces, meta=ordered.iloc[:0], divisions=divisions, enforce_metadata=False)


def _partition_features(
    apps: pd.DataFrame, trades: pd.DataFrame, flows: pd.DataFrame, instruments: InstrumentIndex
) -> pd.DataFrame:
    tables = {
        "applications": apps.reset_index(drop=True),
        "customers": apps[["customer_id", "account_opened_date"]].reset_index(drop=True),
        "trades": trades.reset_index(drop=True),
        "cash_flows": flows.reset_index(drop=True),
    }
    out = trading_features(tables, instruments)
    out.index = apps.index
    return out


def trading_features_dask(
    tables: Mapping[str, pd.DataFrame], npartitions: int, instruments: InstrumentIndex | None = None
) -> Any:
    """Lazy Dask frame of ``application_id`` + trading features, one partition per customer range."""
    if not 1 <= npartitions <= MAX_PARTITIONS:
        raise InputError(
            f"npartitions must be in 1..{MAX_PARTITIONS}, got {npartitions}", field="npartitions"
        )
    for name in ("applications", "customers", "trades", "cash_flows"):
        if name not in tables:
            raise InputError(f"{name}: table missing", field=name)
    if instruments is None:
        if "instruments" not in tables:
            raise InputError("instruments: table missing", field="instruments")
        instruments = InstrumentIndex.from_frame(tables["instruments"])
    opened = (
        tables["customers"].drop_duplicates("customer_id").set_index("customer_id")["account_opened_date"]
    )
    apps = tables["applications"].copy()
    apps["account_opened_date"] = opened.reindex(apps["customer_id"].to_numpy()).to_numpy()
    if apps["account_opened_date"].isna().any():
        missing = apps.loc[apps["account_opened_date"].isna(), "customer_id"].head(5).tolist()
        raise InputError(f"customers: no row for customers {missing}", field="customers.customer_id")
    divisions = _divisions(apps["customer_id"].to_numpy(), npartitions)
    apps_dd, trades_dd, flows_dd = (
        _partitioned(f, divisions) for f in (apps, tables["trades"], tables["cash_flows"])
    )
    return trading_features_partitioned(apps_dd, trades_dd, flows_dd, instruments)


def trading_features_partitioned(apps: Any, trades: Any, flows: Any, instruments: InstrumentIndex) -> Any:
    """Trading features of Dask frames already partitioned by customer (the data-lake entry point).

    ``apps`` holds the applications columns plus ``account_opened_date``; all three frames are
    indexed by customer id with identical, known divisions, so partition i of each holds the
    same customers.
    """
    import dask.dataframe as dd

    if not (
        apps.known_divisions and tuple(apps.divisions) == tuple(trades.divisions) == tuple(flows.divisions)
    ):
        raise InputError("apps, trades and cash flows must be partitioned by customer with equal divisions")
    meta = pd.DataFrame(
        {
            "application_id": pd.Series(dtype="int64"),
            **{n: pd.Series(dtype="float64") for n in TRADING_FEATURES},
        },
        index=pd.Index([], dtype="int64", name="customer_key"),
    )
    return dd.map_partitions(_partition_features, apps, trades, flows, instruments=instruments, meta=meta)


def compute_trading_features(
    tables: Mapping[str, pd.DataFrame],
    npartitions: int,
    instruments: InstrumentIndex | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Computed result in the order of ``tables['applications']`` (as ``trading_features`` gives it).

    ``scheduler``: a Dask scheduler name ("synchronous", "threads", "processes"), or None for
    the active ``distributed.Client`` if one exists.
    """
    lazy = trading_features_dask(tables, npartitions, instruments)
    result = lazy.compute(scheduler=scheduler) if scheduler else lazy.compute()
    order = pd.Index(result["application_id"].to_numpy()).get_indexer(
        tables["applications"]["application_id"].to_numpy()
    )
    return result.iloc[order].reset_index(drop=True)
