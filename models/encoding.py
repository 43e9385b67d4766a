"""Frame → float64 matrix, identical in training, batch scoring and the online path.

LightGBM could read pandas categoricals itself, but then a one-row numpy request would
need the same pandas category mapping at request time. We encode categoricals as integer
codes ourselves (NaN for missing or unseen levels, which LightGBM sends down the
"missing" branch), store the level lists with the model, and always hand LightGBM a
float64 matrix, so ``Booster.predict`` on a numpy row is the whole online path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from creditdesk.errors import InputError


@dataclass
class FrameEncoder:
    feature_names: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, categorical: list[str] | None = None) -> FrameEncoder:
        """Learn the column order and the level list of each categorical column."""
        declared = set(categorical or [])
        cats: dict[str, list[str]] = {}
        for col in frame.columns:
            series = frame[col]
            is_cat = (
                col in declared
                or isinstance(series.dtype, pd.CategoricalDtype)
                or pd.api.types.is_object_dtype(series.dtype)
                or pd.api.types.is_string_dtype(series.dtype)
            )
            if is_cat:
                levels = series.dropna().astype(str).unique().tolist()
                cats[str(col)] = sorted(levels)
        return cls(feature_names=[str(c) for c in frame.columns], categories=cats)

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.feature_names) if name in self.categories]

    def transform(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise InputError(f"input lacks feature column(s): {', '.join(missing[:5])}", field=missing[0])
        out = np.empty((len(frame), len(self.feature_names)), dtype=np.float64)
        for j, name in enumerate(self.feature_names):
            col = frame[name]
            if name in self.categories:
                codes = pd.Categorical(
                    col.astype(str).where(col.notna()), categories=self.categories[name]
                ).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                try:
                    out[:, j] = pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
                except (ValueError, TypeError):
                    raise InputError(f"feature {name!r} must be numeric", field=name) from None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"feature_names": list(self.feature_names), "categories": dict(self.categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameEncoder:
        return cls(feature_names=list(data["feature_names"]), categories=dict(data.get("categories", {})))
