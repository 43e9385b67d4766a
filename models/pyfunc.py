"""MLflow pyfunc wrappers around the bundles, for ``mlflow models serve`` and batch tools.

The registered PD model returns **probabilities** (the calibrated PD), not labels: the
generic pyfunc of an LGBMClassifier returns labels, which is useless for pricing. The LGD
model returns the expected loss share; the EAD model takes a ``grade`` column (and
optionally ``drawn`` and ``limit``) and returns the CCF (or the EAD when both are given).
Our own online path does not use these: it loads the same bundle into ``ChampionSet``.

``predict`` carries no type hints on purpose: MLflow 3 reads them to build a signature and
warns unless they are ``list[...]``; our signatures come from the data instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.bundle import EADScorer, LGDScorer, PDScorer


def _frame(model_input: Any) -> pd.DataFrame:
    return model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)


class PDPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        self.scorer = PDScorer.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):
        matrix = self.scorer.encoder.transform(_frame(model_input))
        return self.scorer.pd_from_matrix(matrix)


class LGDPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        self.scorer = LGDScorer.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):
        return self.scorer.lgd_from_matrix(self.scorer.encoder.transform(_frame(model_input)))


class EADPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        self.scorer = EADScorer.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):
        frame = _frame(model_input)
        ccf = self.scorer.ccf(frame["grade"].to_numpy(dtype=np.int64))
        if "drawn" in frame.columns and "limit" in frame.columns:
            drawn = frame["drawn"].to_numpy(dtype=np.float64)
            limit = frame["limit"].to_numpy(dtype=np.float64)
            return drawn + ccf * np.maximum(limit - drawn, 0.0)
        return ccf
