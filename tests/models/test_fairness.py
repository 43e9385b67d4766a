"""No protected attribute or near-proxy is a PD input; adverse-impact ratios by group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.fairness import (
    PROTECTED_ATTRIBUTES,
    PROXY_MAX_ABS_SPEARMAN,
    adverse_impact,
    age_band,
    model_inputs,
)


def test_model_inputs_drop_protected_attributes_and_near_proxies() -> None:
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, 2000).astype(float)
    X = pd.DataFrame({
        "age_years": age,
        "history_months": (age - 18) * 12 * rng.beta(3, 2, 2000),  # mostly age in disguise
        "utilisation": rng.uniform(size=2000),
    })  # fmt: skip
    keep, proxies = model_inputs(X, {"age_years": X["age_years"]})
    assert keep == ["utilisation"]
    assert set(proxies["age_years"]) == {"history_months"}


def test_four_fifths_rule_golden() -> None:
    # US EEOC Uniform Guidelines, 29 CFR 1607.4(D): a selection rate below four-fifths of the
    # highest group's rate is evidence of adverse impact. A approves 50 of 100, B 30 of 100:
    # AIR(B) = 0.30 / 0.50 = 0.6 < 0.8, flagged; A is the reference (1.0).
    approved = np.r_[np.ones(50), np.zeros(50), np.ones(30), np.zeros(70)].astype(bool)
    groups = np.r_[np.full(100, "A"), np.full(100, "B")]
    rows = {r["group"]: r for r in adverse_impact(approved, groups)}
    assert rows["A"]["air_approval"] == pytest.approx(1.0) and not rows["A"]["flag"]
    assert rows["B"]["air_approval"] == pytest.approx(0.6) and rows["B"]["flag"]
    rate = np.r_[np.full(100, 0.06), np.full(100, 0.09)]  # B pays 9 % against A's 6 %: 0.06/0.09 < 0.8
    rows = {r["group"]: r for r in adverse_impact(np.ones(200, bool), groups, rate)}
    assert rows["B"]["air_rate"] == pytest.approx(2 / 3) and rows["B"]["flag"] and not rows["A"]["flag"]


def test_age_bands() -> None:
    assert list(age_band([18, 24, 25, 44, 64, 65, 90])) == [
        "18-24",
        "18-24",
        "25-34",
        "35-44",
        "55-64",
        "65+",
        "65+",
    ]


@pytest.mark.slow
def test_no_protected_attribute_or_proxy_is_an_input_on_the_generated_population(tmp_path: Path) -> None:
    from pipelines.generate import generate_population
    from pipelines.training import check_fairness_attributes, from_features_dir

    generate_population(1500, 3, tmp_path / "raw")
    data = from_features_dir(tmp_path / "raw")
    assert not set(PROTECTED_ATTRIBUTES) & set(data.X.columns)
    assert data.attributes is not None and {"age_band", "region"} <= set(data.attributes.columns)
    proxies = data.excluded_inputs["near_proxies"]["age_years"]
    assert proxies and all(abs(rho) >= PROXY_MAX_ABS_SPEARMAN for rho in proxies.values())
    assert not set(proxies) & set(data.X.columns)  # e.g. oldest_account_months, rho ~ 0.79 here
    assert "age_years" in data.excluded_inputs["protected"]
    data.fairness_attributes = ["religion"]
    from creditdesk.errors import InputError

    with pytest.raises(InputError) as info:
        check_fairness_attributes(data)
    assert info.value.field == "fairness_attribute" and "religion" in str(info.value)
