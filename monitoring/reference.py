"""The reference a training run leaves behind for monitoring.

Monitoring compares the current population with exactly what the champion saw when it
was trained: the feature matrix, the PD it gave, the grade, and the outcomes when known.
The training job builds that frame with ``build_reference`` and logs it with the model as
the MLflow artifact ``REFERENCE_ARTIFACT``; ``creditdesk report --reference
models:/creditdesk-pd@champion`` then finds it through the registry.

The frame follows ``monitoring.contract``: feature columns under their catalogue names,
``pd_12m``, ``grade`` and optionally ``default_12m``, ``application_date``, ``lgd``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from creditdesk.errors import InputError
from models.master_scale import grade_of
from monitoring.contract import check_pair

REFERENCE_ARTIFACT = "reference/reference.parquet"
"""Artifact path of the reference inside the training run."""


def build_reference(
    features: pd.DataFrame,
    pd_12m: ArrayLike,
    grade: ArrayLike | None = None,
    default_12m: ArrayLike | None = None,
    application_date: ArrayLike | None = None,
    lgd: ArrayLike | None = None,
) -> pd.DataFrame:
    """The reference frame of a training run, checked against the monitoring contract.

    ``grade`` defaults to the master-scale grade of ``pd_12m``. Every array must have one
    value per feature row; the result is refused (``InputError``) if the report could not
    use it, so a bad reference fails at training time, not a month later.
    """
    n = len(features)
    if n == 0:
        raise InputError("the reference needs at least one row", field="features")
    reserved = {"pd_12m", "grade", "default_12m", "application_date", "lgd"} & set(map(str, features.columns))
    if reserved:
        raise InputError(
            f"feature columns clash with reference columns: {sorted(reserved)}", field="features"
        )
    frame = features.reset_index(drop=True).copy()
    pds = np.asarray(pd_12m, dtype=float)
    columns: dict[str, np.ndarray | pd.DatetimeIndex] = {
        "pd_12m": pds,
        "grade": grade_of(pds) if grade is None else np.asarray(grade, dtype=np.int64),
    }
    if default_12m is not None:
        columns["default_12m"] = np.asarray(default_12m, dtype=bool)
    if application_date is not None:
        columns["application_date"] = pd.to_datetime(np.asarray(application_date))
    if lgd is not None:
        columns["lgd"] = np.asarray(lgd, dtype=float)
    for name, values in columns.items():
        if len(values) != n:
            raise InputError(f"{name} has {len(values)} values for {n} feature rows", field=name)
        frame[name] = values
    check_pair(frame, frame)
    return frame
