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
