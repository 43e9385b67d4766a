"""Helpers shared by the pricing tests (imported as ``tests.pricing.pricing_support``)."""

from __future__ import annotations

from typing import Any

import numpy as np

CLEAN_APPLICANT: dict[str, Any] = {
    "pd_12m": 0.01,
    "lgd": 0.3,
    "age": 40,
    "identity_verified": True,
    "is_pep": False,
    "pep_reviewed": False,
    "sanctions_hit": False,
    "trading_history_days": 400,
    "bureau_default_24m": False,
}
"""An applicant no knock-out refuses; each test module adds the grade, CCF and amounts its cases need."""


def one_applicant(**fields: Any) -> dict[str, Any]:
    """One applicant as ``decide`` takes it (each input a one-row array): the clean one, ``fields``
    over it."""
    return {k: np.array([v]) for k, v in (CLEAN_APPLICANT | fields).items()}


def random_applicants(n: int, seed: int) -> dict[str, Any]:
    """``n`` applicants as ``decide`` takes them, drawn at ``seed``: every grade, some of each
    knock-out, amounts wide enough that every cap binds somewhere."""
    rng = np.random.default_rng(seed)
    return {
        "pd_12m": rng.uniform(0.001, 0.25, n),
        "lgd": rng.uniform(0.1, 0.6, n),
        "ccf": rng.uniform(0.3, 1.0, n),
        "grade": rng.integers(1, 12, n),
        "requested_line_minor": rng.integers(100_000, 5_000_000, n),
        "platform_assets_minor": rng.integers(300_000, 10_000_000, n),
        "annual_income_minor": rng.integers(1_000_000, 20_000_000, n),
        "age": rng.integers(17, 85, n),
        "identity_verified": rng.random(n) < 0.97,
        "is_pep": rng.random(n) < 0.02,
        "pep_reviewed": rng.random(n) < 0.5,
        "sanctions_hit": rng.random(n) < 0.005,
        "trading_history_days": rng.integers(30, 1000, n),
        "bureau_default_24m": rng.random(n) < 0.03,
    }
