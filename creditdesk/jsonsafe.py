"""One JSON-safe conversion for every room: numpy and pandas values -> plain Python.

Reports, manifests, CLI ``--json`` lines and API payloads all pass through here, so a
NaN never reaches a JSON file as the invalid token ``NaN`` and a numpy scalar never makes
``json.dumps`` fail. Non-finite floats and missing values (NaN, NaT, pd.NA) become
``None``; with ``as_text=True`` (data examples in validation reports, where "the value
was NaN" is the finding) they and any unknown object become their text instead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(value: Any, *, as_text: bool = False) -> Any:
    """``value`` with every container, array and scalar made JSON-serialisable."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, as_text=as_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, as_text=as_text) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":  # tolist() would give integer nanoseconds
            return [_timestamp(v, as_text) for v in value]
        return [json_safe(v, as_text=as_text) for v in value.tolist()]
    if isinstance(value, np.datetime64):
        return _timestamp(value, as_text)
    if type(value).__module__.startswith("pandas"):
        return _pandas(value, as_text)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else (str(value) if as_text else None)
    if isinstance(value, dt.date | dt.datetime):
        return str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value) if as_text else value


def _timestamp(value: np.datetime64, as_text: bool) -> str | None:
    import pandas as pd

    stamp = pd.Timestamp(value)
    return (str(stamp) if as_text else None) if stamp is pd.NaT else str(stamp)


def _pandas(value: Any, as_text: bool) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return [json_safe(row, as_text=as_text) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return json_safe(value.to_numpy(), as_text=as_text)
    if value is pd.NaT or value is pd.NA:
        return str(value) if as_text else None
    if isinstance(value, pd.Timestamp):
        return str(value)
    return str(value) if as_text else value
