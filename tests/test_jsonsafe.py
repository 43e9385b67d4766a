"""The one JSON-safe conversion: what every report, manifest and ``--json`` line goes through."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from creditdesk.jsonsafe import json_safe


def test_numpy_and_pandas_values_become_plain_python() -> None:
    value = {
        "n": np.int64(3),
        "x": np.float32(0.5),
        "ok": np.bool_(True),
        1: np.array([1.0, np.nan, np.inf]),
        "when": np.datetime64("2020-01-02"),
        "stamp": pd.Timestamp("2020-01-02 10:00"),
        "frame": pd.DataFrame({"a": [1, 2], "b": [np.nan, 0.25]}),
        "missing": [pd.NaT, pd.NA, None, math.nan],
    }
    safe = json_safe(value)
    assert safe == {
        "n": 3,
        "x": 0.5,
        "ok": True,
        "1": [1.0, None, None],
        "when": "2020-01-02 00:00:00",
        "stamp": "2020-01-02 10:00:00",
        "frame": [{"a": 1, "b": None}, {"a": 2, "b": 0.25}],
        "missing": [None, None, None, None],
    }
    assert type(safe["n"]) is int and type(safe["ok"]) is bool
    json.dumps(safe, allow_nan=False)  # strict JSON: no NaN token anywhere


def test_as_text_keeps_the_finding_readable() -> None:
    assert json_safe([math.nan, -math.inf, np.datetime64("NaT"), object], as_text=True) == [
        "nan",
        "-inf",
        "NaT",
        "<class 'object'>",
    ]
