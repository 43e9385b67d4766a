# ruff: noqa: E501  (the hand-built cases read best one per line)
"""The book's committee figures and time-true training sets on hand-built cases (fast)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, insert

from creditdesk.errors import InputError
from pipelines.book_dataset import write_dataset
from pipelines.book_report import activity_by_month, matured_performance
from pipelines.book_state import book_days, create_book_tables


def features_folder(root: Path) -> Path:
    """Four applications: outcomes observed by 2019-07-01 for the first three only."""
    folder = root / "features"
    folder.mkdir()
    dates = pd.to_datetime(["2017-03-01", "2018-01-10", "2018-06-30", "2018-07-02"])
    pd.DataFrame(
        {"application_id": [1, 2, 3, 4], "customer_id": [11, 12, 13, 14], "application_date": dates, "x": 1.0}
    ).to_parquet(folder / "features.parquet")
    pd.DataFrame(
        {
            "application_id": [1, 2, 3, 4],
            "customer_id": [11, 12, 13, 14],
            "application_date": dates,
            "observation_end_date": dates + pd.Timedelta(days=364),
            "default_12m": [False, True, False, True],
        }
    ).to_parquet(folder / "labels.parquet")
    return folder


def test_history_keeps_only_outcomes_observed_by_the_cut(tmp_path: Path) -> None:
    folder = features_folder(tmp_path)
    counts = write_dataset(folder, tmp_path / "history", dt.date(2019, 7, 1))
    labels = pd.read_parquet(tmp_path / "history" / "labels.parquet")
    feats = pd.read_parquet(tmp_path / "history" / "features.parquet")
    # 2018-06-30 + 364 days = 2019-06-29 (observed); 2018-07-02 + 364 = 2019-07-01 (observed on the day)
    assert sorted(labels["application_id"]) == sorted(feats["application_id"]) == [1, 2, 3, 4]
    counts = write_dataset(folder, tmp_path / "history", dt.date(2019, 6, 30))
    labels = pd.read_parquet(tmp_path / "history" / "labels.parquet")
    assert sorted(labels["application_id"]) == [1, 2, 3] and counts["history_defaults"] == 1
    assert "observation_end_date" not in labels.columns


def test_a_cut_with_one_class_is_refused_and_nothing_written(tmp_path: Path) -> None:
    folder = features_folder(tmp_path)
    with pytest.raises(InputError, match="choose a later date"):
        write_dataset(folder, tmp_path / "early", dt.date(2018, 3, 1))  # only application 1: no default
    assert not (tmp_path / "early").exists()


def test_activity_by_month_sums_the_committed_days(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    create_book_tables(engine)
    days = {
        20200302: {"calls_issued": 2, "liquidations": 1, "buys": 9},
        20200331: {"calls_issued": 1, "shortfalls": 1, "stage1_lines": 5},
        20200401: {"defaults": 1, "written_off_minor": 700, "recovered_minor": 0},
    }
    with engine.begin() as conn:
        for day, counts in days.items():
            conn.execute(insert(book_days).values(day=day, summary=json.dumps(counts)))
    with engine.connect() as conn:
        months = activity_by_month(conn)
    engine.dispose()
    assert [m["month"] for m in months] == ["2020-03", "2020-04"]
    assert (months[0]["calls_issued"], months[0]["liquidations"], months[0]["shortfalls"]) == (3, 1, 1)
    assert (months[1]["defaults"], months[1]["written_off_minor"], months[1]["calls_issued"]) == (1, 700, 0)


def test_matured_performance_uses_matured_lines_only() -> None:
    labels = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "matured": [True, True, True, True, False],
            "default": [True, False, False, True, True],
        }
    )
    lines = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4, 5], "grade": [7, 5, 5, 7, 9], "pd_12m": [0.2, 0.05, 0.1, 0.3, 0.9]}
    )
    out = matured_performance(labels, lines)
    assert out["matured_lines"] == 4 and out["defaults"] == 2
    assert out["auc"] == 1.0  # both defaults carry the two highest PDs among the matured lines
    assert out["mean_pd"] == pytest.approx(0.1625)
    assert out["brier"] == pytest.approx(np.mean([(1 - 0.2) ** 2, 0.05**2, 0.1**2, (1 - 0.3) ** 2]))
    assert out["by_grade"] == [
        {"grade": 5, "lines": 2, "defaults": 0, "mean_pd": 0.075},
        {"grade": 7, "lines": 2, "defaults": 2, "mean_pd": 0.25},
    ]


def test_book_sections_render_only_with_a_book() -> None:
    from monitoring.page import book_sections

    assert book_sections(None) == ""
    book = {
        "as_of": "2020-12-31",
        "vintages": {"2020-01": [0.0, 0.1], "2020-02": [0.0]},
        "book": {"decisions": {"approve": 2}, "lines": {"open": 2}, "totals": {"opened": 2}, "by_month": [],
                 "market_risk": {"note": "no open positions on the last book day"}},
        "provisions": {"month_end": 20201231, "by_stage": [{"stage": s, "lines": 1, "ead_minor": 10, "ecl_minor": 1} for s in (1, 2, 3)]},
        "line_review": {"month_end": 20201231, "actions": {"keep": 2}, "early_warning": []},
        "matured_performance": {"matured_lines": 0, "defaults": 0, "note": "no line has been observed for 12 months yet"},
    }  # fmt: skip
    page = book_sections(book)
    for section in ("vintages", "book", "market-risk", "provisions", "line-review", "matured-performance"):
        assert f'<section id="{section}">' in page
    assert "No challenger was compared" in page and "no open positions" in page


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    folder = features_folder(tmp_path)
    cases = [
        (["book", "dataset", "--features", str(folder), "--observed-by", "2019-13-01", "--out", str(tmp_path / "o")],
         "--observed-by must be a date"),
        (["book", "compare", "--features", str(folder), "--from", "2030-01-01", "--out", str(tmp_path / "c.json"),
          "--champion", str(tmp_path), "--challenger", str(tmp_path)], "no application dated on or after"),
        (["report", "--reference", "r.parquet", "--current", "c.parquet", "--book", "sqlite:///x.db",
          "--out", str(tmp_path / "r")], "--book and --book-population go together"),
    ]  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and message in err[0], (args, err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "c.json").exists()


def test_each_line_keeps_its_next_repricing_day() -> None:
    """Quarterly resets on the opening anniversary, day clamped to the month's end and counted
    from the opening day (not from the clamped reset), as pricing.floating.repricing_day."""
    from pipelines.book_days_ops import next_reset_ymd

    assert next_reset_ymd(20191130, 0, 3) == 20200229  # 30 Nov + 3 months: end of a leap February
    assert next_reset_ymd(20191130, 1, 3) == 20200530  # + 6 months: back to the 30th
    assert next_reset_ymd(20200131, 0, 1) == 20200229 and next_reset_ymd(20200131, 1, 1) == 20200331
