"""WoE scorecard challenger: ranks, and its points follow the PDO scaling exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import metrics
from models.scorecard import WoEScorecard
from tests.models.helpers import MONOTONE, credit_frame


def test_scorecard_ranks_and_scales_points_by_pdo() -> None:
    X, y = credit_frame(3000, seed=7)
    card = WoEScorecard(categorical=["region"], monotone=MONOTONE, pdo=20, base_score=600, base_odds=50)
    card.fit(X, y)
    X_new, y_new = credit_frame(2000, seed=8)
    p = card.predict_pd(X_new)
    assert metrics.auc(y_new, p) > 0.70
    points = card.points(X_new)
    log_odds_good = np.log((1 - p) / p)
    # points = offset + (pdo / ln 2) * ln(odds good): every 20 points double the odds
    slope = np.polyfit(log_odds_good, points, 1)[0]
    assert slope == pytest.approx(20 / math.log(2), rel=1e-3)
    offset = np.mean(points - 20 / math.log(2) * log_odds_good)
    assert offset == pytest.approx(600 - 20 / math.log(2) * math.log(50), rel=1e-3)


def test_no_woe_column_gets_a_weight_against_its_bins() -> None:
    """Two collinear risk features: a free logistic regression on their WoE gives one of them
    a positive weight (the generated population: inquiries_6m, thin_file and turnover), so
    the scorecard's PD falls where that feature's bad rate rises and the model is not
    monotone. A column whose weight comes out with the wrong sign is dropped and the rest
    refitted, as a scorecard analyst would."""
    import pandas as pd

    from models.validation import monotonicity_check

    rng = np.random.default_rng(3)
    n = 6000
    z, e = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({"a": z + 0.3 * e, "b": z, "c": rng.normal(size=n)})
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-2.5 + 1.5 * z - 0.8 * e)))).astype(int)
    mono = {"a": 1, "b": 1}
    card = WoEScorecard(monotone=mono).fit(X, y)
    coef = card.scorecard_.estimator_.coef_.ravel()
    assert np.all(coef <= 0.0)  # optbinning's WoE rises with the share of goods: weights are <= 0
    checks = monotonicity_check(card.predict_pd, X, mono)
    assert all(v["ok"] for v in checks.values()), checks
