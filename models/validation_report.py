"""The validation report of one model version: one self-contained HTML page a committee reads.

Generated from the validation pack (the same numbers as the MLflow run and the promotion
gate), logged with the run as ``validation_report/report.html``; ``promote`` refuses a
version whose run has none. Sections, in the order a model-risk reviewer reads them
(each a ``<section id=…>``): purpose, data, methodology, discrimination, calibration,
stability, benchmark, sensitivity, fairness, limitations, decision. Images are embedded
(data URIs), so the file opens anywhere without its folder.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

SECTIONS = (
    "purpose",
    "data",
    "methodology",
    "discrimination",
    "calibration",
    "stability",
    "benchmark",
    "sensitivity",
    "fairness",
    "limitations",
    "decision",
)


def pd_sensitivity(
    predict: Callable[[pd.DataFrame], NDArray[np.float64]],
    X: pd.DataFrame,
    features: Sequence[str],
    *,
    sample_rows: int = 300,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Mean PD with each feature set to its 10th, 50th and 90th percentile, all else as observed."""
    rows = X.sample(n=min(sample_rows, len(X)), random_state=seed)
    out = []
    for name in features:
        values = pd.to_numeric(X[name], errors="coerce").dropna()
        if values.empty:
            continue
        levels = {f"p{q}": float(values.quantile(q / 100)) for q in (10, 50, 90)}
        means = {k: float(np.mean(predict(rows.assign(**{name: v})))) for k, v in levels.items()}
        out.append(
            {
                "feature": name,
                **{f"value_{k}": v for k, v in levels.items()},
                **{f"mean_pd_{k}": v for k, v in means.items()},
                "swing": means["p90"] - means["p10"],
            }
        )
    return out


def _e(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_e(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>'


def _kv(pairs: Mapping[str, Any]) -> str:
    return _table([{"item": k, "value": v} for k, v in pairs.items()])


def _reject_inference(ri: Mapping[str, Any]) -> str:
    """How a reject-inference run was trained, and its effect against the approved-only model."""
    base = ri.get("approved_only_model") or {}
    rows = [
        {"model": ri.get("method"), "population": name, **(ri.get(key) or {})}
        for name, key in (("all test applicants", "all_applicants"), ("approved", "approved_applicants"))
    ] + [
        {"model": "approved_only", "population": name, **(base.get(key) or {})}
        for name, key in (("all test applicants", "all_applicants"), ("approved", "approved_applicants"))
    ]
    return (
        f"<p>Reject inference: <b>{_e(ri.get('method'))}</b> (factor {_e(ri.get('reject_factor'))}); "
        f"trained on the outcomes of approved applicants only (approval rate "
        f"{_e(ri.get('approval_rate_train'))}), the selection skipped; scored on every test "
        "applicant, declined included, against the approved-only model.</p>" + _table(rows)
    )


def _methodology(report: Mapping[str, Any]) -> str:
    if report.get("reject_inference"):
        return _reject_inference(report["reject_inference"])
    sel = report.get("selection") or {}
    rows = [
        {
            "candidate": k,
            "inner_oof_auc": v,
            "inner_oof_brier": (sel.get("inner_brier") or {}).get(k),
            "test_auc": (report.get("candidates_test_auc") or {}).get(k),
        }
        for k, v in (sel.get("inner_auc") or {}).items()
    ]
    tuning = sel.get("tuning") or {}
    return (
        f"<p>Selected: <b>{_e(report.get('pd_model'))}</b>, by {_e(sel.get('inner_folds'))}-fold inner "
        "cross-validation on the training rows only (the test rows never took part in the choice). "
        "Candidates: monotone LightGBM tuned by Optuna within a budget, the WoE logistic scorecard "
        "(optbinning), and a logistic stack of both.</p>"
        + _table(rows)
        + f"<p>Tuning: {_e(tuning.get('trials'))} trials in {_e(tuning.get('seconds'))} s; best inner AUC "
        f"{_e(tuning.get('best_inner_auc'))} against {_e(tuning.get('default_inner_auc'))} for the defaults; "
        f"parameters {_e(tuning.get('best_params'))}.</p>"
    )


def _fairness(report: Mapping[str, Any]) -> str:
    fair = report.get("fairness") or {}
    if not fair:
        return "<p>No protected attributes in this data: adverse impact not measured.</p>"
    parts = [
        f"<p>Approval = grade within the policy's acceptable grades (policy {_e(fair.get('policy'))}); "
        "rate = pricing's risk-based rate at the model's PD and LGD. A ratio below 0.8 is flagged "
        "(four-fifths rule).</p>",
        f"<p>Excluded from the inputs: {_e(fair.get('excluded_inputs'))}</p>",
    ]
    for attribute in ("age_band", "region"):
        if attribute in fair:
            parts.append(f"<h3>{_e(attribute)}</h3>" + _table(fair[attribute]))
    return "".join(parts)


def _decision(report: Mapping[str, Any], gate: Mapping[str, Any]) -> str:
    reasons = gate.get("reasons") or []
    verdict = "meets the promotion gate" if not reasons else "does NOT meet the promotion gate"
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    return (
        f'<p id="verdict">On its own hold-out this version {verdict}.</p><ul>{items}</ul>'
        "<p>The gate runs again at <code>creditdesk promote</code> against the current champion on the "
        "same rows; the alias moves only if it passes (or with --force and a recorded reason).</p>"
    )


def _early_sections(report: Mapping[str, Any], figures: Path) -> list[str]:

    grades = report.get("grades") or []
    vintages = report.get("vintages") or []
    moc = report.get("moc") or {}
    return [
        _section(
            "purpose",
            "Purpose and use",
            "<p>12-month PD of margin-financing applicants, used by the "
            "decision service for grade, price (EL, IRB capital, RAROC) and line; reason codes explain "
            "adverse decisions. Not for collections or behavioural re-scoring.</p>",
        ),
        _section(
            "data",
            "Data and its contracts",
            _kv(
                {
                    "dataset": report.get("dataset"),
                    "split": report.get("split"),
                    "training rows": report.get("n_train"),
                    "test rows": report.get("n_test"),
                    "bad rate (test)": report.get("bad_rate"),
                    "catalogue version": report.get("catalogue_version"),
                    "data fingerprint": report.get("data_fingerprint"),
                }
            )
            + "<p>Raw tables and features are validated by the features job's data contracts before "
            "training; "
            "features use only what is strictly before the application date.</p>",
        ),
        _section("methodology", "Methodology and alternatives considered", _methodology(report)),
        _section(
            "discrimination",
            "Discrimination",
            _kv(
                {
                    k: report.get(k)
                    for k in ("auc", "gini", "ks", "auc_in_time", "auc_out_of_time", "auc_holdout")
                }
            )
            + _img(figures / "roc.png", "ROC"),
        ),
        _section(
            "calibration",
            "Calibration by grade and by vintage",
            _kv(
                {
                    "brier": report.get("brier"),
                    "ece": report.get("ece"),
                    "Jeffreys pass share": report.get("jeffreys_pass_share"),
                    "Jeffreys pass share with MoC": report.get("jeffreys_pass_share_with_moc"),
                }
            )
            + _table(grades)
            + _img(figures / "calibration_by_grade.png", "calibration by grade")
            + "<h3>By vintage</h3>"
            + _table(vintages)
            + f"<h3>Margin of conservatism</h3><p>{_e(moc.get('method'))}</p>"
            + _table([{"grade": g + 1, "add_on": v} for g, v in enumerate(moc.get("add_on_by_grade", []))]),
        ),
    ]


def _late_sections(report: Mapping[str, Any], figures: Path, gate: Mapping[str, Any]) -> list[str]:
    return [
        _section(
            "stability",
            "Stability (PSI)",
            _kv({"PSI train to test": report.get("psi_train_test"), "band": report.get("psi_band")})
            + _img(figures / "score_distribution.png", "score distribution"),
        ),
        _section(
            "benchmark",
            "Benchmark against the challenger",
            _kv(
                {
                    "selected AUC": report.get("auc"),
                    "WoE scorecard AUC (same rows)": report.get("auc_scorecard"),
                    **{
                        f"{k} AUC (same rows)": v
                        for k, v in (report.get("candidates_test_auc") or {}).items()
                    },
                }
            ),
        ),
        _section(
            "sensitivity", "Sensitivity of PD to the top features", _table(report.get("sensitivity") or [])
        ),
        _section("fairness", "Fairness and adverse impact", _fairness(report)),
        _section(
            "limitations",
            "Limitations",
            "<ul><li>Trained on a synthetic population whose causal "
            "structure is documented; real-data behaviour is measured on the public benchmarks.</li>"
            "<li>Crash cohorts (2008, 2020) default far above any application-time signal: the MoC and "
            "the monitoring report, not the ranking, carry that risk.</li><li>Grades with few test rows "
            "have wide confidence intervals; their Jeffreys results are weak evidence.</li></ul>",
        ),
        _section("decision", "Promotion decision", _decision(report, gate)),
    ]


def render(report: Mapping[str, Any], *, figures: Path, gate: Mapping[str, Any]) -> str:
    """The report page from the validation pack dict, its figures folder and the gate's verdict."""
    sections = _early_sections(report, figures) + _late_sections(report, figures, gate)
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}img{max-width:600px}"
    )
    title = f"Validation report: {_e(report.get('dataset'))} PD ({_e(report.get('pd_model'))})"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{style}</style>'
        f"</head><body><h1>{title}</h1>{''.join(sections)}</body></html>"
    )
