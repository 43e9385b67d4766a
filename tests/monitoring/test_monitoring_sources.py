"""The report's other sources: the decision journal (--since), the ledger, pricing columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditdesk.errors import InputError
from features.catalogue import CATALOGUE_VERSION, feature_names
from monitoring.decision_log import frame_from_payloads
from monitoring.portfolio import book_section, portfolio_section
from pipelines import reporting
from pipelines.cli import main

DAY_NS = 86_400 * 10**9
JAN_2024_NS = int(pd.Timestamp("2024-01-01", tz="UTC").value)


def _payload(features: Sequence[float | None], pd_12m: float, grade: int, day: str) -> dict[str, object]:
    """A journal payload shaped as the decision service writes it (fields monitoring reads)."""
    return {
        "request": {"application_id": 1, "application_date": day, "requested_line_minor": 100_000},
        "features": features,
        "catalogue_version": CATALOGUE_VERSION,
        "record": {"outcome": "approve", "pd_12m": pd_12m, "grade": grade, "lgd": 0.3, "reasons": []},
        "decided_at": f"{day}T10:00:00+00:00",
    }


def _catalogue_frame(n: int, seed: int, shift: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = feature_names()
    data = {name: rng.normal(size=n) for name in names}
    if shift is not None:
        data[shift] = data[shift] + 2.0
    pd_12m = rng.uniform(0.005, 0.2, n)
    return pd.DataFrame(
        {
            **data,
            "pd_12m": pd_12m,
            "grade": np.searchsorted([0.008, 0.016, 0.032, 0.064, 0.128], pd_12m) + 4,
            "default_12m": rng.random(n) < pd_12m,
            "application_date": pd.Timestamp("2023-06-01")
            + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
        }
    )


def test_frame_from_payloads_names_features_and_refuses_another_catalogue() -> None:
    names = ["a", "b"]
    frame = frame_from_payloads(
        [
            {"features": [1.0, None], "record": {"pd_12m": 0.1, "grade": 6, "reasons": [1]}, "request": {}},
            {
                "features": [2.0, 3.0],
                "record": {"pd_12m": 0.2, "grade": 8},
                "request": {"application_date": "2024-03-04"},
            },
        ],
        names,
    )
    assert frame["a"].tolist() == [1.0, 2.0]
    assert np.isnan(frame["b"].iloc[0])
    assert frame["pd_12m"].tolist() == [0.1, 0.2]
    assert "reasons" not in frame.columns  # lists are not columns
    assert frame["application_date"].iloc[1] == pd.Timestamp("2024-03-04")
    with pytest.raises(InputError, match="3 values, the feature catalogue has 2"):
        frame_from_payloads([{"features": [1.0, 2.0, 3.0], "record": {}}], names)
    with pytest.raises(InputError, match="catalogue old"):
        frame_from_payloads([{"features": [1.0, 2.0], "catalogue_version": "old"}], names, "new")


@pytest.fixture
def journal_db(tmp_path: Path) -> str:
    """A real service database with 300 journalled decisions, half before 2024-01-01."""
    from ledger.journal import DecisionJournal
    from ledger.storage import make_engine
    from margin.storage import migrate

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    current = _catalogue_frame(300, seed=21, shift="bureau_score")
    clock = iter(range(JAN_2024_NS - 150 * DAY_NS, JAN_2024_NS + 150 * DAY_NS, DAY_NS))
    journal = DecisionJournal(engine, clock=lambda: next(clock))
    for i, row in enumerate(current.itertuples(index=False)):
        features = [float(getattr(row, name)) for name in feature_names()]
        day = (pd.Timestamp(JAN_2024_NS - 150 * DAY_NS + i * DAY_NS)).strftime("%Y-%m-%d")
        journal.append(f"d{i}", f"a{i}", _payload(features, float(row.pd_12m), int(row.grade), day))
    engine.dispose()
    return url


def test_report_since_reads_the_decision_journal(
    journal_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = tmp_path / "reference.parquet"
    _catalogue_frame(3000, seed=20).to_parquet(reference)
    monkeypatch.setenv("CREDITDESK_DB_URL", journal_db)
    from creditdesk.settings import get_settings

    get_settings.cache_clear()
    out = tmp_path / "from_log"
    try:
        args = ["--reference", str(reference), "--since", "2024-01-01", "--out", str(out)]
        main(["report", *args, "--no-evidently", "--json"])
    finally:
        get_settings.cache_clear()
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    data = json.loads((out / "summary.json").read_text())
    assert data["rows"]["current"] == 150  # the decisions logged on or after 2024-01-01
    assert data["inputs"]["current"] == "decision log since 2024-01-01"
    assert last["drifted_features"] == ["bureau_score"]  # the one column shifted by +2 sd
    assert data["performance"]["current"] is None  # the journal holds no outcomes


def test_report_since_refuses_an_empty_period_and_a_missing_log(journal_db: str, tmp_path: Path) -> None:
    columns = _catalogue_frame(10, seed=1).columns
    with pytest.raises(InputError, match="no decisions logged"):
        reporting.current_from_decision_log("2030-01-01", columns, database_url=journal_db)
    with pytest.raises(InputError, match="does not exist"):
        reporting.current_from_decision_log("2024-01-01", columns, f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_book_section_by_hand() -> None:
    facilities = pd.DataFrame(
        {
            "status": ["open", "open", "closed", "written_off"],
            "line_minor": [100_000, 250_000, 50_000, 70_000],
        }
    )
    calls = pd.DataFrame(
        {
            "status": ["open", "open", "met", "liquidated", "liquidated"],
            "required_minor": [1_000, 2_500, 400, 900, 100],
            "deadline_ns": [5, 50, 1, 1, 1],
        }
    )
    section = book_section(facilities, calls, now_ns=10)
    assert section is not None
    figures = section["figures"]
    assert figures["facilities open"] == 2 and figures["facilities written off"] == 1
    assert figures["open lines (minor units)"] == 350_000
    assert (
        figures["margin calls open"],
        figures["margin calls met"],
        figures["margin calls liquidated"],
    ) == (
        2,
        1,
        2,
    )
    assert figures["open calls: required top-up (minor units)"] == 3_500
    assert figures["open calls past deadline"] == 1  # deadline 5 < now 10; the other is due at 50
    assert [a["light"] for a in section["alerts"]] == ["red", "amber"]
    empty = pd.DataFrame(columns=["status", "line_minor", "required_minor", "deadline_ns"])
    assert book_section(empty, empty, now_ns=10) is None


def test_ledger_figures_read_a_real_database(tmp_path: Path) -> None:
    from ledger.storage import make_engine
    from margin.storage import facilities, margin_calls, migrate

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert reporting.ledger_figures(url) is None  # no database: no section, no file created
    assert not (tmp_path / "ledger.db").exists()
    engine = make_engine(url)
    migrate(engine)
    assert reporting.ledger_figures(url) is None  # empty tables: no section
    with engine.begin() as conn:
        conn.execute(
            facilities.insert(),
            [
                {
                    "customer_id": 1,
                    "decision_id": "d1",
                    "currency_ledger": 1,
                    "line_minor": 500_000,
                    "annual_rate_bps": 800,
                    "max_leverage_bps": 20_000,
                    "regime": "cn",
                    "status": "open",
                    "opened_at_ns": 0,
                }
            ],
        )
        conn.execute(
            margin_calls.insert(),
            [
                {
                    "call_id": 1,
                    "customer_id": 1,
                    "status": "open",
                    "issued_at_ns": 0,
                    "deadline_ns": 100,
                    "ratio_at_issue_bps": 12_500,
                    "required_minor": 30_000,
                    "closed_at_ns": 0,
                }
            ],
        )
    engine.dispose()
    section = reporting.ledger_figures(url, now_ns=1_000)
    assert section is not None
    assert section["figures"]["open lines (minor units)"] == 500_000
    assert section["figures"]["open calls past deadline"] == 1
    assert section["alerts"][0]["light"] == "red"


def test_portfolio_section_from_pricing_columns_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "outcome": ["approve", "approve", "decline", "refer"],
            "grade": [3, 5, 9, 7],
            "ead_minor": [100_000.0, 200_000.0, 0.0, 0.0],
            "expected_loss_minor": [300.0, 1_500.0, 0.0, 0.0],
            "economic_capital_minor": [4_000.0, 16_000.0, 0.0, 0.0],
            "expected_interest_minor": [7_000.0, 16_000.0, 0.0, 0.0],
            "expected_net_income_minor": [1_000.0, 2_000.0, 0.0, 0.0],
        }
    )
    section = portfolio_section(frame)
    assert section is not None
    figures = section["figures"]
    assert figures["approval rate"] == pytest.approx(0.5)
    assert figures["approved (book)"] == 2
    assert figures["expected loss (minor units)"] == pytest.approx(1_800.0)
    assert figures["economic capital (minor units)"] == pytest.approx(20_000.0)
    # RAROC = Σ net income / Σ EC = 3000 / 20000 = 15%, exactly the policy hurdle: no alert
    assert figures["book RAROC"] == pytest.approx(0.15)
    assert section["alerts"] == []
    by_grade = section["tables"]["Expected loss, capital and RAROC by grade (approved book)"]
    assert by_grade["grade"].tolist() == [3, 5]
    assert by_grade["raroc"].tolist() == pytest.approx([0.25, 0.125])
    lower = portfolio_section(frame.assign(expected_net_income_minor=[500.0, 1_000.0, 0.0, 0.0]))
    assert lower is not None
    assert [a["subject"] for a in lower["alerts"]] == ["book RAROC"]  # 7.5% < 15% hurdle
    assert portfolio_section(frame[["grade"]]) is None


def _pipeline_outputs(folder: Path, n: int, seed: int, with_labels: bool) -> Path:
    """What `creditdesk features` and `creditdesk score` write, in their column names."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64) + 5_000_000_000 + seed * n
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "application_id": ids,
            "customer_id": ids - 5_000_000_000,
            "application_date": pd.Timestamp("2014-01-01")
            + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
            "bureau_score": rng.normal(680, 50, n),
            "debt_to_income": rng.uniform(0, 1, n),
        }
    ).to_parquet(folder / "features.parquet")
    pd_12m = rng.uniform(0.01, 0.3, n)
    default = rng.random(n) < pd_12m
    if with_labels:
        pd.DataFrame(
            {
                "application_id": ids,
                "application_date": pd.Timestamp("2014-01-01"),
                "default_12m": default,
                "lgd": np.where(default, 0.4, np.nan),  # realised LGD of defaults
                "ccf": np.where(default, 0.5, np.nan),
            }
        ).to_parquet(folder / "labels.parquet")
    scores = folder.parent / f"{folder.name}_scores.parquet"
    order = rng.permutation(n)  # the score file's row order is its own
    pd.DataFrame(
        {
            "application_id": ids[order],
            "pd_12m": pd_12m[order],
            "grade": np.full(n, 7)[order],
            "lgd": np.full(n, 0.3),
            "reasons": ["[]"] * n,
        }
    ).to_parquet(scores)
    return scores


def test_report_from_features_folders_and_score_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref_scores = _pipeline_outputs(tmp_path / "train", 2000, seed=1, with_labels=True)
    cur_scores = _pipeline_outputs(tmp_path / "new", 1500, seed=2, with_labels=False)
    out = tmp_path / "report"
    args = ["--reference", str(tmp_path / "train"), "--reference-scores", str(ref_scores)]
    args += ["--current", str(tmp_path / "new"), "--current-scores", str(cur_scores)]
    main(["report", *args, "--out", str(out), "--no-evidently", "--no-ledger"])
    data = json.loads((out / "summary.json").read_text())
    assert set(data["features"]) == {"bureau_score", "debt_to_income"}
    assert data["rows"] == {"reference": 2000, "current": 1500}
    assert data["performance"]["reference"]["n"] == 2000
    assert data["performance"]["current"] is None  # no labels for the new applications yet

    frame = reporting.load_set(tmp_path / "train", "reference", ref_scores)
    # joined by id, not by row order; the labels' lgd became realised_lgd beside the predicted lgd
    scores = pd.read_parquet(ref_scores).set_index("application_id")
    assert frame["pd_12m"].to_numpy() == pytest.approx(
        scores.loc[frame["application_id"], "pd_12m"].to_numpy()
    )
    assert frame["lgd"].eq(0.3).all()
    assert frame.loc[frame["default_12m"], "realised_lgd"].eq(0.4).all()
    assert frame.loc[~frame["default_12m"], "realised_lgd"].isna().all()


def test_score_files_must_cover_every_application(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = _pipeline_outputs(tmp_path / "train", 100, seed=1, with_labels=True)
    pd.read_parquet(scores).iloc[:90].to_parquet(tmp_path / "partial.parquet")
    with pytest.raises(InputError, match="10 applications have no score"):
        reporting.load_set(tmp_path / "train", "reference", tmp_path / "partial.parquet")
    pd.read_parquet(scores).drop(columns=["application_id"]).to_parquet(tmp_path / "noid.parquet")
    with pytest.raises(InputError, match="application_id"):
        reporting.load_set(tmp_path / "train", "reference", tmp_path / "noid.parquet")
    with pytest.raises(InputError, match="not found"):
        reporting.load_set(tmp_path / "nothing", "reference", scores)
