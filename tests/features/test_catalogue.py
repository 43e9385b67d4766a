"""The feature catalogue: the one declaration models, reason codes and contracts read."""

from __future__ import annotations

import re

import pytest

from features.catalogue import CATALOGUE, CATALOGUE_VERSION, Feature, feature_names, get, monotone_constraints


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
    by_source = [n for source in ("kyc", "bureau", "application", "trading") for n in feature_names(source)]
    assert sorted(by_source) == sorted(feature_names())
    assert feature_names("trading")[0] == "account_age_days"


def test_get_and_unknown_names() -> None:
    assert get("win_rate").nullable is True and get("win_rate").high == 1
    with pytest.raises(KeyError, match="unknown feature 'shoe_size'"):
        get("shoe_size")


def test_version_is_a_stable_hash_of_the_declarations() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", CATALOGUE_VERSION)


def test_declarations_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="monotone"):
        Feature("x", "float64", "kyc", "u", "X", 2, 0, 1)
    with pytest.raises(ValueError, match="low"):
        Feature("x", "float64", "kyc", "u", "X", 0, 2, 1)
