"""The risk-committee report as data: every number, light and alert, before any HTML.

``build_report`` is pure (frames in, a ``CommitteeReport`` out); the job in
``pipelines/reporting.py`` reads the files, adds the Evidently detail and the ledger
figures, renders ``index.html`` and writes ``summary.json``. Keeping the numbers apart
from the page lets tests check the numbers and lets ``summary.json`` carry exactly what
the page shows.

Lights: green / amber / red, grey when there is not enough data to judge. The report's
overall light is the worst of its alerts; ``--fail-on-drift`` fails on any red.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.jsonsafe import json_safe
from monitoring import performance
from monitoring.contract import DATE_COLUMN, GRADE_COLUMN, LABEL_COLUMN, MonitoringPair
from monitoring.stability import StabilityResult, stability

LIGHT_ORDER: dict[str, int] = {"grey": 0, "green": 1, "amber": 2, "red": 3}
SECTIONS: tuple[str, ...] = ("stability", "score", "performance", "portfolio", "ledger", "risk_controls")


@dataclass(frozen=True)
class Alert:
    """One thing the committee should look at; ``light`` is amber or red."""

    section: str
    subject: str
    light: str
    message: str
    value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "subject": self.subject,
            "light": self.light,
            "message": self.message,
            "value": json_safe(None if self.value is None else float(self.value)),
        }


@dataclass
class CommitteeReport:
    generated_at: str
    reference_rows: int
    current_rows: int
    score_column: str
    features: StabilityResult
    score: StabilityResult
    grade_mix: pd.DataFrame | None
    reference_performance: dict[str, float] | None
    current_performance: dict[str, float] | None
    cohorts: pd.DataFrame
    calibration: pd.DataFrame
    lgd: pd.DataFrame
    portfolio: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None
    risk_controls: dict[str, Any] | None = None
    book: dict[str, Any] | None = None  # the living book's sections (``pipelines.book_report``)
    drift_detail: dict[str, Any] | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def section_lights(self) -> dict[str, str]:
        """Worst light per section (grey where the section has nothing to judge)."""
        lights = {
            "stability": _worst(self.features.table["light"]) if len(self.features.table) else "grey",
            "score": _worst(self.score.table["light"]) if len(self.score.table) else "grey",
            "performance": _worst(
                [
                    *self.cohorts.get("auc_light", []),
                    *self.cohorts.get("calibration_light", []),
                    *self.calibration.get("light", []),
                    *self.lgd.get("light", []),
                ]
            ),
            "portfolio": _worst(self.portfolio.get("lights", [])) if self.portfolio else "grey",
            "ledger": _worst(self.ledger.get("lights", [])) if self.ledger else "grey",
            "risk_controls": _worst(self.risk_controls.get("lights", [])) if self.risk_controls else "grey",
        }
        return lights

    @property
    def overall(self) -> str:
        return _worst([a.light for a in self.alerts]) if self.alerts else "green"

    @property
    def has_red(self) -> bool:
        return any(a.light == "red" for a in self.alerts)


def _worst(lights: Any) -> str:
    values = [str(v) for v in lights]
    return max(values, key=lambda v: LIGHT_ORDER.get(v, 0)) if values else "grey"


def build_report(
    pair: MonitoringPair,
    bins: int = 10,
    portfolio: Mapping[str, Any] | None = None,
    ledger: Mapping[str, Any] | None = None,
    risk_controls: Mapping[str, Any] | None = None,
    on_column: Callable[[str], None] | None = None,
    generated_at: datetime | None = None,
) -> CommitteeReport:
    """Stability, performance and (given) portfolio figures of a checked pair, with alerts."""
    ref, cur = pair.reference, pair.current
    features = stability(ref, cur, pair.features, bins=bins, on_column=on_column)
    score = stability(ref, cur, [pair.score_column], bins=bins)
    grade_mix = None
    if pair.has_column(GRADE_COLUMN):
        from monitoring.stability import column_csi

        grade_mix = column_csi(ref[GRADE_COLUMN].astype(object), cur[GRADE_COLUMN].astype(object))
        numeric = pd.to_numeric(grade_mix["bin"], errors="coerce")
        if numeric.notna().all():  # grades 1..11 in order, not "1", "10", "11", "2"
            grade_mix = grade_mix.iloc[np.argsort(numeric.to_numpy(), kind="stable")].reset_index(drop=True)

    reference_performance = None
    if LABEL_COLUMN in ref.columns and ref[LABEL_COLUMN].notna().any():
        reference_performance = performance.overall_ranking(ref, pair.score_column)
    current_performance = None
    if LABEL_COLUMN in cur.columns and cur[LABEL_COLUMN].notna().any():
        current_performance = performance.overall_ranking(cur, pair.score_column)
    reference_auc = reference_performance["auc"] if reference_performance else None
    cohorts = performance.cohort_performance(cur, pair.score_column, reference_auc=reference_auc)
    calibration = performance.calibration_by_grade(cur)
    lgd = performance.lgd_backtest(cur)

    report = CommitteeReport(
        generated_at=(generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        reference_rows=len(ref),
        current_rows=len(cur),
        score_column=pair.score_column,
        features=features,
        score=score,
        grade_mix=grade_mix,
        reference_performance=reference_performance,
        current_performance=current_performance,
        cohorts=cohorts,
        calibration=calibration,
        lgd=lgd,
        portfolio=dict(portfolio) if portfolio else None,
        ledger=dict(ledger) if ledger else None,
        risk_controls=dict(risk_controls) if risk_controls else None,
    )
    report.alerts = alerts_of(report)
    return report


def alerts_of(report: CommitteeReport) -> list[Alert]:
    """Every amber or red light as an alert, red first, then by section order."""
    alerts: list[Alert] = []
    for row in report.features.table.itertuples():
        if row.light in ("amber", "red"):
            alerts.append(
                Alert(
                    "stability",
                    str(row.feature),
                    str(row.light),
                    f"PSI {row.psi:.3f} ({row.band}); largest shift in bin {row.worst_bin}",
                    float(row.psi),
                )
            )
    for row in report.score.table.itertuples():
        if row.light in ("amber", "red"):
            alerts.append(
                Alert(
                    "score",
                    str(row.feature),
                    str(row.light),
                    f"score PSI {row.psi:.3f} ({row.band})",
                    row.psi,
                )
            )
    for row in report.cohorts.itertuples():
        if row.auc_light in ("amber", "red"):
            alerts.append(
                Alert(
                    "performance",
                    f"cohort {row.cohort}",
                    str(row.auc_light),
                    f"AUC {row.auc:.3f} on {row.n} applications with {row.defaults} defaults",
                    float(row.auc),
                )
            )
        if row.calibration_light in ("amber", "red"):
            alerts.append(
                Alert(
                    "performance",
                    f"cohort {row.cohort}",
                    str(row.calibration_light),
                    f"default rate {row.default_rate:.2%} above mean PD {row.mean_pd:.2%} "
                    f"(Jeffreys p = {row.jeffreys_p:.3g})",
                    float(row.jeffreys_p),
                )
            )
    for row in report.calibration.itertuples():
        if row.light in ("amber", "red"):
            alerts.append(
                Alert(
                    "performance",
                    f"grade {row.grade}",
                    str(row.light),
                    f"observed default rate {row.observed_rate:.2%} vs mean PD {row.mean_pd:.2%} "
                    f"on {row.n} (Jeffreys p = {row.jeffreys_p:.3g})",
                    float(row.jeffreys_p),
                )
            )
    for row in report.lgd.itertuples():
        if row.light in ("amber", "red"):
            alerts.append(
                Alert(
                    "performance",
                    f"LGD grade {row.grade}",
                    str(row.light),
                    f"realised LGD {row.realised_lgd:.1%} vs predicted {row.predicted_lgd:.1%} "
                    f"on {row.defaults} defaults",
                    float(row.gap),
                )
            )
    for section, data in (
        ("portfolio", report.portfolio),
        ("ledger", report.ledger),
        ("risk_controls", report.risk_controls),
    ):
        for item in (data or {}).get("alerts", []):
            alerts.append(Alert(section, str(item["subject"]), str(item["light"]), str(item["message"])))
    order = {name: i for i, name in enumerate(SECTIONS)}
    alerts.sort(key=lambda a: (-LIGHT_ORDER[a.light], order.get(a.section, 99)))
    return alerts


def summary(report: CommitteeReport) -> dict[str, Any]:
    """The JSON summary: PSI per feature and for the score, drift flags, alerts, lights."""
    detail = report.drift_detail or {}
    detail_columns = detail.get("columns", {})
    features = {
        str(row.feature): {
            "psi": float(row.psi),
            "band": str(row.band),
            "light": str(row.light),
            "drifted": row.band == "act",
            "evidently_drifted": detail_columns.get(str(row.feature), {}).get("drifted"),
        }
        for row in report.features.table.itertuples()
    }
    score_row = report.score.table.iloc[0]
    book_keys = (
        "vintages",
        "book",
        "provisions",
        "line_review",
        "matured_performance",
        "champion_vs_challenger",
    )
    book = {k: json_safe(report.book.get(k)) for k in book_keys if k in report.book} if report.book else {}
    return {
        **book,
        "generated_at": report.generated_at,
        "overall": report.overall,
        "inputs": report.inputs,
        "rows": {"reference": report.reference_rows, "current": report.current_rows},
        "score": {
            "column": report.score_column,
            "psi": float(score_row["psi"]),
            "band": str(score_row["band"]),
            "light": str(score_row["light"]),
        },
        "features": features,
        "drift_flags": {name: item["drifted"] for name, item in features.items()},
        "drifted_features": [name for name, item in features.items() if item["drifted"]],
        "sections": report.section_lights,
        "alerts": [a.as_dict() for a in report.alerts],
        "counts": {light: sum(a.light == light for a in report.alerts) for light in ("red", "amber")},
        "performance": {
            "reference": json_safe(report.reference_performance),
            "current": json_safe(report.current_performance),
            "cohorts": json_safe(report.cohorts) or [],
            "calibration_by_grade": json_safe(report.calibration) or [],
            "lgd": json_safe(report.lgd) or [],
        },
        "portfolio": json_safe(report.portfolio),
        "ledger": json_safe(report.ledger),
        "risk_controls": json_safe(report.risk_controls),
        "evidently": {k: v for k, v in detail.items() if k != "columns"} if detail else None,
        "date_column": DATE_COLUMN,
    }
