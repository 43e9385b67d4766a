"""Input validation shared by the PD, LGD and EAD estimators: scikit-learn's, not our own.

scikit-learn's estimator checks (``tests/models/test_estimator_checks.py``) hold every
estimator to one contract: ``NotFittedError`` before ``fit``, ``n_features_in_`` (and
``feature_names_in_`` for named columns) learned in ``fit`` and enforced in ``predict``,
sparse, complex and empty input refused with a ``ValueError`` that says so, a 2-d ``y``
column accepted with a warning. ``validate_data`` does all of that; these two helpers call
it and hand the models the pandas frame their ``FrameEncoder`` reads.

A ``DataFrame`` keeps its own columns (categoricals stay text, the encoder codes them);
anything else must be numeric and becomes a frame with columns ``x0``, ``x1``, …
NaN is allowed in X (LightGBM routes it down the learned "missing" branch), inf is not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.utils.validation import (
    assert_all_finite,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from creditdesk.errors import InputError


def fit_frame(estimator: Any, X: Any, y: Any, *, y_numeric: bool) -> tuple[pd.DataFrame, NDArray[Any]]:
    """Validate a training X and y; learn ``n_features_in_`` (and ``feature_names_in_``)."""
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, y, reset=True, skip_check_array=True)
        if len(X) == 0:
            raise InputError(f"X has 0 sample(s) (shape={X.shape}); a minimum of 1 is required", field="X")
        y_arr = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True)
        assert_all_finite(y_arr, input_name="y")
        check_consistent_length(X, y_arr)
        return X, y_arr
    matrix, y_arr = validate_data(
        estimator, X, y, reset=True, dtype=np.float64, ensure_all_finite="allow-nan", y_numeric=y_numeric
    )
    return pd.DataFrame(matrix, columns=[f"x{i}" for i in range(matrix.shape[1])]), y_arr


def predict_frame(estimator: Any, X: Any) -> pd.DataFrame:
    """Validate a scoring X against what ``fit`` saw; a bare array gets the fitted column names.

    A model with categorical columns needs their text levels, so it scores frames only.
    """
    check_is_fitted(estimator)
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, reset=False, skip_check_array=True)
        return X
    encoder = estimator.encoder_
    if encoder.categories:
        raise InputError("a model with categorical columns scores a DataFrame, not an array", field="X")
    matrix = validate_data(estimator, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
    return pd.DataFrame(matrix, columns=encoder.feature_names)
