"""Atomic output: the target appears whole or not at all, and no temp file is left."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from creditdesk.atomic import write_atomic, write_parquet_atomic


def test_parquet_written_whole_and_readable(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    path = write_parquet_atomic(frame, tmp_path / "out" / "x.parquet")
    assert pd.read_parquet(path).equals(frame)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.parquet"]


def test_a_failing_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("previous")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_the_validation_pack_json_leaves_no_temp_file_when_a_value_cannot_be_written(tmp_path: Path) -> None:
    from models.validation import write_json_atomic

    target = tmp_path / "validation.json"
    target.write_text('{"previous": true}\n')
    with pytest.raises(TypeError):
        write_json_atomic({"auc": 0.8, "model": object()}, target)  # half the JSON, then a failure
    assert target.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.json"]
