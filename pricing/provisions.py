"""Expected-credit-loss provisions by stage, in the manner of IFRS 9 (section 5.5).

Why three stages: a loan provisioned only when it defaults books the loss late and all at
once. IFRS 9 asks for a 12-month expected credit loss on every performing exposure from
day one (stage 1), a lifetime expected loss once credit risk has increased significantly
since origination (stage 2), and a lifetime loss on credit-impaired exposures (stage 3),
so the allowance rises as risk rises, before the default.

Rules as implemented (each a golden test in ``tests/pricing/test_pricing_provisions.py``):
- stage 3 (credit-impaired, IFRS 9 Appendix A and B5.5.37): in default, or more than 90 days
  past due;
- stage 2 (significant increase in credit risk, 5.5.3 and 5.5.9): the 12-month PD now is at
  least ``sicr_pd_ratio`` × the PD at origination and at least ``sicr_pd_abs`` above it, or
  the exposure is more than 30 days past due (the rebuttable presumption of 5.5.11), or it
  is on the early-warning watch list;
- stage 1 otherwise.
- 12-month ECL = PD12 × LGD × EAD; lifetime ECL = LGD × EAD × Σ_{t=0}^{T−1} PD12 ×
  ((1 − PD12) / (1 + EIR))^t over the behavioural life T of a revolving line (5.5.20), a
  constant hazard discounted at the effective interest rate (5.5.17, B5.5.44);
  credit-impaired ECL = LGD × EAD. EAD = drawn + CCF × (limit − drawn) (DESIGN.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from creditdesk.errors import InputError


class Stage(enum.IntEnum):
    PERFORMING = 1  # 12-month ECL
    SIGNIFICANT_INCREASE = 2  # lifetime ECL
    CREDIT_IMPAIRED = 3  # lifetime ECL, PD = 1


@dataclass(frozen=True)
class StagingRules:
    sicr_pd_ratio: float = 2.0
    sicr_pd_abs: float = 0.005
    sicr_days_past_due: int = 30
    default_days_past_due: int = 90
    lifetime_years: int = 3

    def __post_init__(self) -> None:
        if self.sicr_pd_ratio < 1 or self.sicr_pd_abs < 0 or not 1 <= self.lifetime_years <= 30:
            raise InputError("staging rules: sicr_pd_ratio ≥ 1, sicr_pd_abs ≥ 0, lifetime_years in 1..30")
        if not 0 < self.sicr_days_past_due < self.default_days_past_due:
            raise InputError("staging rules: 0 < sicr_days_past_due < default_days_past_due")


def _probabilities(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if np.any(~np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise InputError(f"{name} must be a probability in [0, 1]", field=name)
    return arr


def stage_of(
    pd_now: ArrayLike,
    pd_at_origination: ArrayLike,
    days_past_due: ArrayLike,
    defaulted: ArrayLike,
    watch: ArrayLike | None = None,
    rules: StagingRules = StagingRules(),
) -> NDArray[np.int64]:
    """Stage 1, 2 or 3 per exposure (vectorised)."""
    now = _probabilities(pd_now, "pd_now")
    orig = _probabilities(pd_at_origination, "pd_at_origination")
    dpd = np.asarray(days_past_due, dtype=np.int64)
    dflt = np.asarray(defaulted, dtype=bool)
    on_watch = np.zeros(now.shape, dtype=bool) if watch is None else np.asarray(watch, dtype=bool)
    sicr = (now >= rules.sicr_pd_ratio * orig) & (now - orig >= rules.sicr_pd_abs)
    sicr |= (dpd > rules.sicr_days_past_due) | on_watch
    impaired = dflt | (dpd > rules.default_days_past_due)
    return np.where(impaired, 3, np.where(sicr, 2, 1)).astype(np.int64)


def exposure_at_default_minor(
    drawn_minor: ArrayLike, limit_minor: ArrayLike, ccf: ArrayLike
) -> NDArray[np.float64]:
    """EAD of a line in use: drawn + CCF × undrawn (undrawn never negative)."""
    drawn = np.asarray(drawn_minor, dtype=np.float64)
    undrawn = np.maximum(np.asarray(limit_minor, dtype=np.float64) - drawn, 0.0)
    return drawn + _probabilities(ccf, "ccf") * undrawn


def ecl_minor(
    stage: ArrayLike,
    pd_12m: ArrayLike,
    lgd: ArrayLike,
    ead_minor: ArrayLike,
    eir: ArrayLike,
    rules: StagingRules = StagingRules(),
) -> NDArray[np.int64]:
    """Expected credit loss per exposure in minor units (half up), by stage."""
    st = np.asarray(stage, dtype=np.int64)
    if np.any((st < 1) | (st > 3)):
        raise InputError("stage must be 1, 2 or 3", field="stage")
    p = _probabilities(pd_12m, "pd_12m")
    loss = _probabilities(lgd, "lgd") * np.asarray(ead_minor, dtype=np.float64)
    rate = np.asarray(eir, dtype=np.float64)
    if np.any(rate <= -1) or np.any(~np.isfinite(rate)):
        raise InputError("eir must be a finite rate above -100 %", field="eir")
    q = (1.0 - p) / (1.0 + rate)
    annuity = sum(q**t for t in range(rules.lifetime_years))
    expected = np.select([st == 1, st == 2], [p * loss, p * loss * annuity], default=loss)
    return np.floor(expected + 0.5).astype(np.int64)


def provisions_by_stage(stage: ArrayLike, ecl: ArrayLike, ead_minor: ArrayLike) -> pd.DataFrame:
    """Count, EAD, ECL and coverage (ECL / EAD) per stage, all three stages always present."""
    frame = pd.DataFrame(
        {"stage": np.asarray(stage, dtype=np.int64), "ecl_minor": ecl, "ead_minor": ead_minor}
    )
    out = frame.groupby("stage").agg(
        exposures=("stage", "size"), ead_minor=("ead_minor", "sum"), ecl_minor=("ecl_minor", "sum")
    )
    out = out.reindex([1, 2, 3], fill_value=0)
    out["coverage"] = np.where(
        out["ead_minor"] > 0, out["ecl_minor"] / out["ead_minor"].where(out["ead_minor"] > 0, 1), 0.0
    )
    return out.reset_index()


__all__ = [
    "Stage",
    "StagingRules",
    "ecl_minor",
    "exposure_at_default_minor",
    "provisions_by_stage",
    "stage_of",
]
