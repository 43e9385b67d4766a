"""Policy file: the packaged default loads, its hash is the file's, and bad policies never load."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from creditdesk.errors import InputError
from pricing.policy import DEFAULT_POLICY_PATH, load_policy, policy_from_mapping


def default_doc() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def write(tmp_path: Path, doc: Any, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def test_default_policy_loads_with_version_and_file_hash() -> None:
    policy = load_policy()
    assert policy.version == "2026.2.0"
    assert (policy.regime, policy.currency) == ("cn", "CNY")  # the default regime, money in fen
    assert policy.policy_hash == hashlib.sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()
    assert [t.grade for t in policy.grades.tiers] == list(range(1, 11))
    # grade-indexed tables: 0 and 11 hold nothing; acceptance stops at acceptable_max_grade
    assert policy.max_line_minor_by_grade[0] == 0 and policy.max_line_minor_by_grade[11] == 0
    assert policy.acceptable_by_grade.tolist() == [False] + [True] * 8 + [False] * 3
    assert policy.tier(1).max_line_minor == 500_000_000  # CNY 5,000,000 in fen


def test_hash_changes_with_any_byte_and_version_is_read(tmp_path: Path) -> None:
    original = DEFAULT_POLICY_PATH.read_bytes()
    edited = write(tmp_path, original.decode() + "\n# a comment\n")
    policy = load_policy(edited)
    assert policy.policy_hash == hashlib.sha256(edited.read_bytes()).hexdigest()
    assert policy.policy_hash != load_policy().policy_hash
    assert policy.model_dump() == load_policy().model_dump()  # same content, different file bytes


def test_mapping_policy_gets_a_content_hash() -> None:
    a = policy_from_mapping(default_doc())
    b = policy_from_mapping(default_doc())
    assert a.policy_hash == b.policy_hash and len(a.policy_hash) == 64
    doc = default_doc()
    doc["rates"]["hurdle_raroc"] = 0.2
    assert policy_from_mapping(doc).policy_hash != a.policy_hash


def mutate(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(default_doc())
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("rates.rate_caps", 0.2, "rates.rate_caps: unknown key"),
        ("typo_top_level", 1, "typo_top_level: unknown key"),
        ("grades.tiers.3.max_lines", 5, "grades.tiers.3.max_lines: unknown key"),
        ("rates.rate_cap", _DELETE, "rates.rate_cap: required key is missing"),
        ("version", _DELETE, "version: required key is missing"),
        ("rates.rate_floor", 0.5, "rate_floor (0.5) must not exceed rate_cap"),
        ("rates.hurdle_raroc", -0.1, "rates.hurdle_raroc"),
        ("rates.rate_cap", float("nan"), "rates.rate_cap"),
        ("rates.funding_rate", float("inf"), "rates.funding_rate"),
        ("capital.formula", "sovereign", "capital.formula"),
        ("capital.maturity_years", 7, "capital.maturity_years"),
        ("limits.line_unit_minor", 0, "limits.line_unit_minor"),
        ("grades.acceptable_max_grade", 11, "grades.acceptable_max_grade"),
        ("knockouts.min_age_years", 16, "knockouts.min_age_years"),
        ("knockouts.min_age_years", 80, "min_age_years (80) must not exceed max_age_years"),
        ("grades.tiers.3.haircut_addon", 1.5, "grades.tiers.3.haircut_addon"),
    ],
)
def test_bad_policy_is_refused_naming_key_and_rule(
    tmp_path: Path, path: str, value: Any, expected: str
) -> None:
    with pytest.raises(InputError) as err:
        load_policy(write(tmp_path, mutate(path, value)))
    assert expected in str(err.value)
    assert err.value.field == "policy"


@pytest.mark.parametrize(
    ("grade_index", "key", "value", "expected"),
    [
        (3, "max_line_minor", 10**9, "max_line_minor must not rise from grade 3"),
        (5, "max_leverage", 1.0, "max_leverage must not rise from grade 5"),
        (0, "haircut_addon", 0.5, "haircut_addon must not fall from grade 1"),
    ],
)
def test_non_monotone_tier_table_is_refused(
    tmp_path: Path, grade_index: int, key: str, value: Any, expected: str
) -> None:
    doc = default_doc()
    doc["grades"]["tiers"][grade_index][key] = value
    with pytest.raises(InputError, match="not monotone") as err:
        load_policy(write(tmp_path, doc))
    assert expected in str(err.value)


def test_tier_table_must_cover_each_grade_once(tmp_path: Path) -> None:
    doc = default_doc()
    doc["grades"]["tiers"][9]["grade"] = 9
    with pytest.raises(InputError, match=r"grades.tiers: must list each grade 1..10 exactly once"):
        load_policy(write(tmp_path, doc))
    doc = default_doc()
    del doc["grades"]["tiers"][4]
    with pytest.raises(InputError, match="exactly once"):
        load_policy(write(tmp_path, doc))


def test_tiers_may_be_listed_in_any_order(tmp_path: Path) -> None:
    doc = default_doc()
    doc["grades"]["tiers"].reverse()
    policy = load_policy(write(tmp_path, doc))
    assert [t.grade for t in policy.grades.tiers] == list(range(1, 11))
    assert policy.max_line_minor_by_grade.tolist() == load_policy().max_line_minor_by_grade.tolist()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rates: [unclosed", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "must be a YAML mapping"),
    ],
)
def test_unparseable_policy_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_policy(write(tmp_path, text))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        load_policy(tmp_path / "nope.yaml")


def test_policy_is_immutable() -> None:
    policy = load_policy()
    with pytest.raises(Exception, match="frozen"):
        policy.version = "x"
    with pytest.raises(ValueError, match="read-only"):
        policy.max_line_minor_by_grade[1] = 0
