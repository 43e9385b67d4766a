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
