"""Monitoring test data: small scored populations with known structure.

``scored_population`` draws applicants whose PD depends on the bureau score and
utilisation only, so halving incomes moves exactly one input and leaves the score's
distribution alone: the report must then flag that input and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from models.master_scale import grade_of


def scored_population(n: int, seed: int, income_factor: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bureau = rng.normal(680, 60, n).round()
    utilisation = rng.beta(2, 5, n)
    income = (1000 * rng.integers(1, 5001, n) * income_factor).astype(np.int64)
    logit = -3.2 - (bureau - 680) / 40 + 2.0 * (utilisation - 0.3)
    pd_12m = 1 / (1 + np.exp(-logit))
    default = rng.random(n) < pd_12m
    months = rng.integers(0, 6, n)
    dates = pd.to_datetime("2024-01-01") + pd.to_timedelta(months * 31, unit="D")
    lgd = np.full(n, 0.25)
    realised = np.where(default, np.clip(rng.normal(0.25, 0.1, n), 0, 1), np.nan)
    return pd.DataFrame(
        {
            "application_id": np.arange(n, dtype=np.int64) + seed * 1_000_000,
            "bureau_score": bureau,
            "credit_utilisation": utilisation,
            "annual_income_minor": income,
            "employment": pd.Series(rng.choice(["employed", "self_employed", "retired"], n), dtype="string"),
            "identity_verified": rng.random(n) < 0.95,
            "pd_12m": pd_12m,
            "grade": grade_of(pd_12m),
            "default_12m": default,
            "application_date": dates,
            "lgd": lgd,
            "realised_lgd": realised,
        }
    )


@pytest.fixture
def population() -> Callable[..., pd.DataFrame]:
    return scored_population
