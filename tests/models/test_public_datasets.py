"""Public dataset loaders and the YAML spec contract (bad specs and files -> InputError)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from creditdesk.errors import InputError
from features.public_datasets import (
    BUILTIN,
    DatasetSpec,
    builtin_spec,
    load_csv,
    load_german,
    load_lending_club_loss,
    read_spec,
)
from tests.conftest import DATASETS_DIR, require_dataset


def _write(tmp_path: Path, csv: str, spec: str) -> tuple[Path, Path]:
    data, spec_path = tmp_path / "data.csv", tmp_path / "spec.yaml"
    data.write_text(csv)
    spec_path.write_text(spec)
    return data, spec_path


GOOD_CSV = "id,income,region,status\n1,10,a,good\n2,20,b,bad\n3,,a,good\n4,40,c,bad\n"


def test_generic_loader_maps_target_and_types(tmp_path: Path) -> None:
    data, spec = _write(
        tmp_path,
        GOOD_CSV,
        "target: status\nbad_values: [bad]\ncategorical: [region]\ndrop: [id]\nmonotone: {income: -1}\n",
    )
    frame, parsed = load_csv(data, spec)
    assert frame["status"].tolist() == [0, 1, 0, 1]
    assert "id" not in frame.columns
    assert isinstance(frame["region"].dtype, pd.CategoricalDtype)
    assert parsed.feature_columns(frame) == ["income", "region"]
    assert frame["income"].isna().sum() == 1  # missing values survive for the model to handle


@pytest.mark.parametrize(
    ("csv", "spec", "message"),
    [
        (GOOD_CSV, "target: status\nbad_values: [bad]\ncategorical: [nope]\n", "lacks column.*nope"),
        (GOOD_CSV, "target: missing_target\n", "lacks column.*missing_target"),
        (GOOD_CSV, "target: status\n", "not 0/1.*bad_values"),
        ("x,y\n1,0\n2,0\n", "target: y\n", "one class"),
        ("x,y\n1,a\n2,a\n", "target: y\nbad_values: [b]\n", "one class"),
        ("", "target: y\n", "empty"),
        ("x,y\n", "target: y\n", "no rows"),
        (GOOD_CSV, "target: status\nbad_values: [bad]\ndrop: [id]\n", "region.*not numeric"),
        (GOOD_CSV, "target: status\nbad_values: [bad]\ntypo_key: 1\n", "typo_key"),
        (GOOD_CSV, "target: status\nbad_values: [bad]\nmonotone: {income: 2}\n", "monotone"),
        (GOOD_CSV, "- just a list\n", "mapping"),
        ("x,y,t\n1,0,2020-01-01\n2,1,nonsense\n", "target: y\ntime_column: t\n", "unparseable"),
    ],
)
def test_bad_specs_and_files_raise(tmp_path: Path, csv: str, spec: str, message: str) -> None:
    data, spec_path = _write(tmp_path, csv, spec)
    with pytest.raises(InputError, match=message):
        load_csv(data, spec_path)


def test_missing_files_raise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="spec file not found"):
        read_spec(tmp_path / "none.yaml")
    with pytest.raises(InputError, match="data file not found"):
        load_csv(tmp_path / "none.csv", DatasetSpec(target="y"))
    with pytest.raises(InputError, match="unknown dataset"):
        builtin_spec("mnist")


def test_builtin_specs_parse() -> None:
    for name in BUILTIN:
        spec = builtin_spec(name)
        assert spec.name == name and spec.file


def test_german_loader() -> None:
    require_dataset("german_credit/german.data")
    frame, spec = load_german(DATASETS_DIR)
    assert frame.shape == (1000, 21)
    assert frame[spec.target].mean() == pytest.approx(0.30)
    assert len(spec.feature_columns(frame)) == 20


def test_lending_club_loss_definitions() -> None:
    require_dataset("lending_club_2007_2011/lending_club_2007_2011_derived.csv.gz")
    frame, _ = load_lending_club_loss(DATASETS_DIR)
    assert frame["lgd"].between(0, 1).all() and (frame["ead"] > 0).all()
    assert frame["lgd"].mean() == pytest.approx(0.92, abs=0.01)  # the README's figure
    assert len(frame) <= 6431
