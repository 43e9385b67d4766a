"""IFRS 9-style staging and expected credit loss: golden cases, each naming its paragraph."""

from __future__ import annotations

import numpy as np
import pytest

from creditdesk.errors import InputError
from pricing.provisions import (
    StagingRules,
    ecl_minor,
    exposure_at_default_minor,
    provisions_by_stage,
    stage_of,
)


def test_staging_golden_cases() -> None:
    # IFRS 9 5.5.3/5.5.9: significant increase in credit risk since origination -> stage 2
    # (here PD at least doubled AND up by ≥ 0.5 pp); 5.5.11: > 30 days past due -> stage 2;
    # Appendix A / B5.5.37: credit-impaired (in default, > 90 days past due) -> stage 3.
    pd_now = [0.010, 0.020, 0.006, 0.010, 0.010, 0.010, 0.010]
    pd_orig = [0.010, 0.010, 0.002, 0.010, 0.010, 0.010, 0.010]
    dpd = [0, 0, 0, 31, 30, 91, 0]
    defaulted = [False, False, False, False, False, False, True]
    watch = [False, False, False, False, False, False, False]
    got = stage_of(pd_now, pd_orig, dpd, defaulted, watch).tolist()
    # PD 1 % -> 2 %: ratio 2 and +1 pp: stage 2; 0.2 % -> 0.6 %: ratio 3 but only +0.4 pp: stage 1
    assert got == [1, 2, 1, 2, 1, 3, 3]
    assert stage_of([0.01], [0.01], [0], [False], [True]).tolist() == [2]  # on the watch list


def test_ecl_golden_values() -> None:
    # PD 2 %, LGD 45 %, EAD 1,000,000 minor, EIR 8 %, life 3 years:
    # 12-month ECL = 0.02 × 0.45 × 1e6 = 9,000;
    # lifetime = 9,000 × (1 + 0.98/1.08 + (0.98/1.08)^2) = 9,000 × 2.730796 = 24,577.2 -> 24,577;
    # credit-impaired = 0.45 × 1e6 = 450,000.
    got = ecl_minor([1, 2, 3], [0.02] * 3, [0.45] * 3, [1_000_000] * 3, [0.08] * 3, StagingRules())
    assert got.tolist() == [9_000, 24_577, 450_000]


def test_lifetime_ecl_of_one_year_equals_twelve_month_ecl() -> None:
    one_year = StagingRules(lifetime_years=1)
    assert ecl_minor([2], [0.03], [0.5], [100_000], [0.05], one_year).tolist() == [1_500]


def test_ead_of_a_line_in_use() -> None:
    # DESIGN.md: EAD = drawn + CCF × (limit − drawn); an overdrawn line adds nothing undrawn.
    got = exposure_at_default_minor([300, 1_200], [1_000, 1_000], [0.5, 0.5])
    assert got.tolist() == [650.0, 1_200.0]


def test_provisions_by_stage_lists_every_stage() -> None:
    out = provisions_by_stage([1, 1, 3], [10, 20, 500], [1_000, 1_000, 600])
    assert out["stage"].tolist() == [1, 2, 3]
    assert out["ecl_minor"].tolist() == [30, 0, 500]
    assert np.allclose(out["coverage"], [0.015, 0.0, 500 / 600])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError):
        stage_of([1.5], [0.1], [0], [False])
    with pytest.raises(InputError):
        ecl_minor([4], [0.1], [0.5], [1], [0.05])
    with pytest.raises(InputError):
        StagingRules(sicr_days_past_due=120)
