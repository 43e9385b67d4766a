"""``index.html``: the one page the risk committee reads, traffic lights first.

A single self-contained file (styles inline, charts as SVG data URIs, no script and no
network), so it opens from a shared drive, an e-mail attachment or a browser without
internet, and prints as it looks. Detail that would crowd the page (CSI per bin) sits in
``<details>`` blocks; the Evidently report is linked, not embedded.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from monitoring import plots
from monitoring.report import SECTIONS, CommitteeReport

SECTION_TITLES: dict[str, str] = {
    "stability": "Input stability",
    "score": "Score stability",
    "performance": "Model performance",
    "portfolio": "Portfolio",
    "ledger": "Book and margin",
    "risk_controls": "Risk controls",
}
MAX_CSI_ROWS = 40
CSI_COLUMNS = ("bin", "ref_count", "cur_count", "ref_share", "cur_share", "psi")
FEATURE_COLUMNS = ("feature", "description", "kind", "psi", "band", "light", "worst_bin", "evidently")
LIGHT_WORDS: dict[str, str] = {"green": "OK", "amber": "watch", "red": "act", "grey": "n/a"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;
background:#fafafa}
header{background:#263238;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#cfd8dc;font-size:13px}
main{padding:8px 24px 40px;max-width:1100px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:6px 0 10px} h3{font-size:15px;margin:14px 0 6px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{flex:1 1 150px;border-radius:6px;padding:10px 12px;color:#fff;text-decoration:none}
.tile b{display:block;font-size:14px} .tile span{font-size:12px}
.green{background:#2e7d32}.amber{background:#f9a825;color:#212121}.red{background:#c62828}.grey{background:#9e9e9e}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
.wide{overflow-x:auto} .chart{max-width:100%;height:auto;display:block;margin:8px 0}
.note{color:#616161;font-size:12.5px} ul.alerts{padding-left:0;list-style:none} ul.alerts li{margin:3px 0}
details{margin:2px 0} summary{cursor:pointer}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "–"
        # amounts and counts read best whole with separators; small ratios with 4 significant digits
        return f"{number:,.{digits}g}" if abs(number) < 1000 else f"{number:,.0f}"
    return _e(value)


def _dot(light: str) -> str:
    return f'<span class="dot {_e(light)}" title="{_e(light)}"></span>'


def table_html(frame: pd.DataFrame | None, columns: Sequence[str] | None = None, light: str = "light") -> str:
    """A plain table; a column named ``light`` (or ``*_light``) is drawn as a coloured dot."""
    if frame is None or frame.empty:
        return '<p class="note">No rows.</p>'
    shown = list(columns) if columns is not None else [str(c) for c in frame.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in shown)
    body = []
    for record in frame[shown].to_dict(orient="records"):
        cells = []
        for c in shown:
            value = record[c]
            if c == light or c.endswith("_light"):
                cells.append(f"<td>{_dot(str(value))}{_e(LIGHT_WORDS.get(str(value), value))}</td>")
            else:
                cells.append(f"<td>{_fmt(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _summary(report: CommitteeReport, evidently_href: str | None) -> str:
    lights = report.section_lights
    tiles = []
    for name in SECTIONS:
        light = lights[name]
        count_red = sum(a.section == name and a.light == "red" for a in report.alerts)
        count_amber = sum(a.section == name and a.light == "amber" for a in report.alerts)
        text = (
            "no data"
            if light == "grey"
            else f"{count_red} red, {count_amber} amber"
            if count_red or count_amber
            else "no alerts"
        )
        tiles.append(
            f'<a class="tile {light}" href="#{name}" data-section="{name}" data-light="{light}">'
            f"<b>{_e(SECTION_TITLES[name])}</b><span>{_e(LIGHT_WORDS[light])} · {_e(text)}</span></a>"
        )
    if report.alerts:
        items = "".join(
            f'<li data-light="{_e(a.light)}">{_dot(a.light)}<b>{_e(a.subject)}</b> '
            f"({_e(SECTION_TITLES.get(a.section, a.section))}): {_e(a.message)}</li>"
            for a in report.alerts
        )
        alerts = f'<ul class="alerts">{items}</ul>'
    else:
        alerts = '<p class="note">No alerts: every light is green or has too little data to judge.</p>'
    link = (
        f'<p>Full per-column drift detail: <a id="evidently-link" href="{_e(evidently_href)}">'
        "Evidently data-drift report</a>.</p>"
        if evidently_href
        else '<p class="note">Evidently detail report not produced for this run'
        + (
            f": {_e(report.drift_detail['error'])}"
            if report.drift_detail and "error" in report.drift_detail
            else ""
        )
        + ".</p>"
    )
    score_row = report.score.table.iloc[0]
    red = sum(a.light == "red" for a in report.alerts)
    amber = sum(a.light == "amber" for a in report.alerts)
    return (
        f'<section id="summary" data-overall="{report.overall}"><h2>Summary: '
        f"{_dot(report.overall)}{_e(LIGHT_WORDS[report.overall])}</h2>"
        f'<div class="tiles">{"".join(tiles)}</div>'
        f"<p>{report.current_rows:,} current against {report.reference_rows:,} reference applications; "
        f"{len(report.features.table)} features monitored; score ({_e(report.score_column)}) PSI "
        f"{float(score_row['psi']):.3f} ({_e(score_row['band'])}); {red} red and {amber} amber alerts.</p>"
        f"<h3>Alerts</h3>{alerts}{link}</section>"
    )


def _stability(report: CommitteeReport, labels: Mapping[str, str]) -> str:
    table = report.features.table.copy()
    detail = (report.drift_detail or {}).get("columns", {})
    table["description"] = [labels.get(f, "") for f in table["feature"]]
    table["evidently"] = [
        "–" if detail.get(f, {}).get("drifted") is None else "drift" if detail[f]["drifted"] else "no drift"
        for f in table["feature"]
    ]
    ordered = table.sort_values("psi", ascending=False)
    blocks = []
    for name in ordered["feature"]:
        csi = report.features.csi[name]
        note = ""
        if len(csi) > MAX_CSI_ROWS:  # a categorical with many levels: show where the shift is
            note = f'<p class="note">The {MAX_CSI_ROWS} largest of {len(csi)} bins.</p>'
            csi = csi.nlargest(MAX_CSI_ROWS, "psi")
        blocks.append(
            f"<details><summary>{_e(name)}: CSI by bin</summary>{note}"
            f"{table_html(csi, CSI_COLUMNS)}</details>"
        )
    return (
        '<section id="stability"><h2>Input stability</h2>'
        '<p class="note">PSI on reference deciles (missing values and each category get their own bin); '
        "bands: below 0.10 stable, 0.10–0.25 watch, 0.25 or more act. The Evidently column shows "
        "Evidently's own test on a sample, for comparison.</p>"
        f"{plots.psi_bars(table)}"
        f"{table_html(ordered, FEATURE_COLUMNS)}"
        f"<h3>CSI per bin</h3>{''.join(blocks)}</section>"
    )


def _score(report: CommitteeReport, reference: np.ndarray, current: np.ndarray) -> str:
    grade = (
        f"<h3>Grade mix</h3>{table_html(report.grade_mix, CSI_COLUMNS)}"
        if report.grade_mix is not None
        else ""
    )
    csi = report.score.csi[report.score_column]
    return (
        '<section id="score"><h2>Score stability</h2>'
        f"{table_html(report.score.table, ['feature', 'psi', 'band', 'light'])}"
        f"{plots.score_distributions(reference, current, report.score_column == 'pd_12m')}"
        f"<h3>Score deciles of the reference</h3>"
        f"{table_html(csi, CSI_COLUMNS)}{grade}</section>"
    )


def _performance(report: CommitteeReport) -> str:
    if report.current_performance is None:
        return (
            '<section id="performance"><h2>Model performance</h2><p class="note">No matured outcomes '
            "in the current set yet (no <code>default_12m</code> values): ranking and calibration are "
            "reported once 12-month outcomes are known.</p></section>"
        )
    ref = report.reference_performance
    cur = report.current_performance
    ref_auc = ref["auc"] if ref else None
    overview = pd.DataFrame(
        [
            {"set": name, **values}
            for name, values in (("reference", ref), ("current", cur))
            if values is not None
        ]
    )
    return (
        '<section id="performance"><h2>Model performance</h2>'
        f"{table_html(overview, ['set', 'n', 'defaults', 'auc', 'gini', 'ks'])}"
        f"<h3>By application cohort</h3>{plots.cohort_auc_chart(report.cohorts, ref_auc)}"
        f"{table_html(report.cohorts)}"
        f"<h3>Calibration by grade</h3>{plots.calibration_chart(report.calibration)}"
        f"{table_html(report.calibration)}"
        "<h3>LGD: realised against predicted</h3>"
        f"{table_html(report.lgd)}</section>"
    )


def _mapping_section(section_id: str, title: str, data: Mapping[str, Any] | None, empty: str) -> str:
    if not data:
        return f'<section id="{section_id}"><h2>{_e(title)}</h2><p class="note">{_e(empty)}</p></section>'
    parts = [f'<section id="{section_id}"><h2>{_e(title)}</h2>']
    for note in data.get("notes", []):
        parts.append(f'<p class="note">{_e(note)}</p>')
    figures = data.get("figures")
    if figures:
        frame = pd.DataFrame([{"figure": k, "value": v} for k, v in figures.items()])
        parts.append(table_html(frame))
    for name, frame in data.get("tables", {}).items():
        parts.append(f"<h3>{_e(name)}</h3>{table_html(frame)}")
    parts.append("</section>")
    return "".join(parts)


BOOK_SECTION_TITLES: dict[str, str] = {
    "vintages": "Vintage curves",
    "book": "The living book: book and margin",
    "market-risk": "Market risk of the book: VaR, ES, backtest, stress",
    "provisions": "Provisions by stage",
    "line-review": "Line review",
    "matured-performance": "Model performance on matured vintages",
    "champion-challenger": "Champion and challenger",
}


def _section(section_id: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(BOOK_SECTION_TITLES[section_id])}</h2>{body}</section>'


def _figures(values: Mapping[str, Any]) -> str:
    frame = pd.DataFrame([{"figure": k.replace("_", " "), "value": v} for k, v in values.items()])
    return table_html(frame) if len(frame) else ""


def _vintage_section(vintages: Mapping[str, list[float]], as_of: str) -> str:
    rows = [
        {"cohort": c, "months observed": len(v), "cumulative default rate": v[-1] if v else None}
        for c, v in sorted(vintages.items())
    ]
    note = (
        f'<p class="note">Share of each origination cohort defaulted within n months on book, read from '
        f"the ledger's default marks, observed to {_e(as_of)}.</p>"
    )
    return _section("vintages", note + plots.vintage_chart(dict(vintages)) + table_html(pd.DataFrame(rows)))


def _book_section(book: Mapping[str, Any]) -> str:
    figures = {
        **{f"decisions: {k}": v for k, v in sorted(book.get("decisions", {}).items())},
        **{f"lines: {k}": v for k, v in sorted(book.get("lines", {}).items())},
        **book.get("totals", {}),
        "defaults (ledger)": book.get("defaults_from_ledger"),
        "loss_minor": book.get("loss_minor"),
        "recovery_minor": book.get("recovery_minor"),
    }
    by_month = list(book.get("by_month", []))
    return _section(
        "book", _figures(figures) + plots.book_activity_chart(by_month) + table_html(pd.DataFrame(by_month))
    )


def _risk_section(risk: Mapping[str, Any]) -> str:
    if "note" in risk:
        return _section("market-risk", f'<p class="note">{_e(risk["note"])}</p>')
    head = {k: risk[k] for k in ("positions_value_minor", "var99_minor", "es975_minor")}
    backtest = {f"backtest {k}": v for k, v in risk["backtest"].items()}
    return _section(
        "market-risk",
        _figures({**head, **backtest})
        + "<h3>Stress scenarios (latest)</h3>"
        + table_html(pd.DataFrame(risk["stress"])),
    )


def _review_section(review: Mapping[str, Any]) -> str:
    actions = {f"{k} ({review.get('month_end')})": v for k, v in sorted(review.get("actions", {}).items())}
    warn = pd.DataFrame(review.get("early_warning", []))
    body = _figures(actions) + "<h3>Early-warning list</h3>"
    body += table_html(warn) if len(warn) else '<p class="note">No line on the early-warning list.</p>'
    return _section("line-review", body)


def _matured_section(perf: Mapping[str, Any]) -> str:
    head = {k: v for k, v in perf.items() if k not in ("by_grade",)}
    return _section(
        "matured-performance", _figures(head) + table_html(pd.DataFrame(perf.get("by_grade", [])))
    )


def _challenger_section(cmp: Mapping[str, Any] | None) -> str:
    if not cmp:
        return _section("champion-challenger", '<p class="note">No challenger was compared.</p>')
    rows = [{"model": m, **cmp[m]} for m in ("champion", "challenger")]
    head = {k: v for k, v in cmp.items() if k not in ("champion", "challenger")}
    return _section("champion-challenger", _figures(head) + table_html(pd.DataFrame(rows)))


def book_sections(book: Mapping[str, Any] | None) -> str:
    """The living book's sections (``pipelines.book_report.book_figures``), or nothing."""
    if not book:
        return ""
    stages = pd.DataFrame(book["provisions"]["by_stage"])
    return (
        _vintage_section(book["vintages"], str(book.get("as_of")))
        + _book_section(book["book"])
        + _risk_section(book["book"]["market_risk"])
        + _section("provisions", table_html(stages))
        + _review_section(book["line_review"])
        + _matured_section(book["matured_performance"])
        + _challenger_section(book.get("champion_vs_challenger"))
    )


def render_index(
    report: CommitteeReport,
    reference_scores: np.ndarray,
    current_scores: np.ndarray,
    evidently_href: str | None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """The whole page as one string."""
    names = labels or {}
    inputs = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in report.inputs.items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>creditdesk risk-committee report {report.generated_at}</title><style>{STYLE}</style></head>"
        f"<body><header><h1>Risk-committee report</h1><p>Generated {_e(report.generated_at)} · {inputs}</p>"
        "</header><main>"
        f"{_summary(report, evidently_href)}"
        f"{_stability(report, names)}"
        f"{_score(report, reference_scores, current_scores)}"
        f"{_performance(report)}"
        + _mapping_section(
            "portfolio",
            "Portfolio",
            report.portfolio,
            "No pricing columns in the current set: expected loss, capital and RAROC not reported.",
        )
        + _mapping_section(
            "ledger",
            "Book and margin",
            report.ledger,
            "The ledger database has no accounts yet: margin calls, liquidations and VaR not reported.",
        )
        + _mapping_section(
            "risk-controls",
            "Risk controls",
            report.risk_controls,
            "No risk events, reviews or refusals in the books: regime timeline and controls not reported.",
        )
        + book_sections(report.book)
        + "</main></body></html>"
    )
