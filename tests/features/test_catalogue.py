"""The feature catalogue: the one declaration models, reason codes and contracts read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from features.catalogue import (
    CATALOGUE,
    CATALOGUE_VERSION,
    Feature,
    catalogue_version,
    feature_names,
    get,
    monotone_constraints,
)
from tests.conftest import REPO_ROOT


def test_names_are_unique_snake_case_and_numeric() -> None:
    names = feature_names()
    assert len(names) == len(set(names)) == len(CATALOGUE)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
    assert {f.dtype for f in CATALOGUE} == {"float64"}  # the online path is one numpy row
    assert {f.source for f in CATALOGUE} == {"kyc", "bureau", "trading", "application"}


def test_every_feature_is_explained_for_reason_codes() -> None:
    for feature in CATALOGUE:
        assert feature.description and feature.description[0].isupper(), feature.name
        assert feature.unit, feature.name
        assert feature.low <= feature.high


def test_monotone_constraints_follow_the_requested_order() -> None:
    names = ["bureau_score", "delinquencies_24m", "age_years"]
    assert monotone_constraints(names) == [-1, 1, 0]
    assert monotone_constraints(reversed(names)) == [0, 1, -1]


def test_sources_partition_the_catalogue_in_order() -> None:
    everything = feature_names()
    assert everything == [f.name for f in CATALOGUE]  # the declaration order is the model's column order
    sources = ("kyc", "bureau", "application", "trading")
    for source in sources:  # each source's names: exactly its features, in catalogue order
        assert feature_names(source) == [f.name for f in CATALOGUE if f.source == source]
    assert sum(len(feature_names(s)) for s in sources) == len(everything)  # disjoint and complete
    assert feature_names("trading")[0] == "account_age_days"


def test_get_and_unknown_names() -> None:
    assert get("win_rate").nullable is True and get("win_rate").high == 1
    with pytest.raises(KeyError, match="unknown feature 'shoe_size'"):
        get("shoe_size")


def test_version_is_a_stable_hash_of_the_declarations() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", CATALOGUE_VERSION)
    assert catalogue_version(CATALOGUE) == CATALOGUE_VERSION
    # Stable: the same in a fresh interpreter with another string-hash seed.
    probe = "from features.catalogue import CATALOGUE_VERSION as v; print(v)"
    for seed in ("1", "2"):
        fresh = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert fresh.stdout.strip() == CATALOGUE_VERSION
    # Of the declarations: any field of any feature, or their order, changes it.
    first, second, *rest = CATALOGUE
    assert (
        catalogue_version([replace(first, description=first.description + "."), second, *rest])
        != CATALOGUE_VERSION
    )
    assert (
        catalogue_version([replace(first, monotone=-first.monotone or 1), second, *rest]) != CATALOGUE_VERSION
    )
    assert catalogue_version([second, first, *rest]) != CATALOGUE_VERSION


def test_declarations_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="monotone"):
        Feature("x", "float64", "kyc", "u", "X", 2, 0, 1)
    with pytest.raises(ValueError, match="low"):
        Feature("x", "float64", "kyc", "u", "X", 0, 2, 1)
