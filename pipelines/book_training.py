"""Training data from the books: matured vintages of a book run, labelled by the ledger.

Why: the generator's outcomes are a simulation's opinion; the books are what happened. A
line is a training row once it has been observed for the full horizon (12 months after
opening, by the last committed business day). Features are the application-time features
of its decision (the one feature code over the population's tables, strictly before the
application date); labels come from ``margin.outcomes.labels_from_books``: default within
the horizon, LGD = loss / EAD on defaults, and the onboarding CCF = EAD / granted line
(nothing is drawn at the application date; accrued interest may take it past 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from creditdesk.errors import InputError
from margin.outcomes import labels_from_books, read_credit_transfers, read_facilities
from pipelines.book_state import book_days, book_lines

NS_PER_DAY = 86_400 * 10**9


def book_labels(database_url: str, horizon_days: int = 365) -> pd.DataFrame:
    """Labels of every line the book opened, with ``application_id`` and the granted limit."""
    from ledger.storage import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            last = conn.execute(select(func.max(book_days.c.day))).scalar()
            if last is None:
                raise InputError(
                    f"{database_url}: no committed book days (run creditdesk book run)", field="from_book"
                )
            as_of_ns = int(pd.Timestamp(str(last)).value) + NS_PER_DAY
            labels = labels_from_books(
                read_credit_transfers(conn), read_facilities(conn), as_of_ns, horizon_days
            )
            lines = pd.DataFrame(
                conn.execute(
                    select(book_lines.c.customer_id, book_lines.c.application_id, book_lines.c.limit_minor)
                ).all(),
                columns=["customer_id", "application_id", "granted_limit_minor"],
            )
    finally:
        engine.dispose()
    return labels.merge(lines, on="customer_id", how="inner", validate="1:1")


def from_book(database_url: str, population: Path, horizon_days: int = 365) -> Any:
    """``TrainingData`` of the matured vintages of the book in ``database_url``."""
    from features.builders import build_features
    from features.catalogue import CATALOGUE_VERSION, feature_names, get
    from pipelines.training import TrainingData

    labels = book_labels(database_url, horizon_days)
    matured = labels[labels["matured"]]
    if matured.empty:
        raise InputError(
            f"no line of the book has been observed for {horizon_days} days yet: run the book longer",
            field="from_book",
        )
    tables = {
        t: pd.read_parquet(Path(population) / f"{t}.parquet")
        for t in ("customers", "bureau", "trades", "cash_flows", "applications", "instruments")
    }
    apps = tables["applications"][tables["applications"]["application_id"].isin(matured["application_id"])]
    feats = build_features({**tables, "applications": apps})
    merged = feats.merge(matured, on=["application_id", "customer_id"], how="inner", validate="1:1")
    names = feature_names()
    y = merged["default"].astype(np.int64).to_numpy()
    ead = merged["ead_minor"].to_numpy(dtype=np.float64)
    limit = merged["granted_limit_minor"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lgd = np.where(
            (y == 1) & (ead > 0), np.clip(merged["loss_minor"].to_numpy(dtype=np.float64) / ead, 0, 1), np.nan
        )
        ccf = np.where((y == 1) & (limit > 0), ead / limit, np.nan)
    return TrainingData(
        name="book",
        X=merged[names].astype(np.float64),
        y=y,
        monotone={n: get(n).monotone for n in names if get(n).monotone},
        descriptions={n: get(n).description for n in names},
        catalogue_version=CATALOGUE_VERSION,
        time=merged["application_date"],
        lgd=lgd,
        ccf=ccf,
        drawn=np.zeros(len(merged)),
        limit=limit,
        ead=np.where(y == 1, ead, np.nan),
        instruments=tables["instruments"],
    )


__all__ = ["book_labels", "from_book"]
