"""The report's charts, drawn with matplotlib as SVG and embedded as data URIs.

SVG keeps the page sharp when printed for the committee pack and small (a few tens of
kB per chart with text kept as text); a data URI rather than inline ``<svg>`` keeps each
chart's internal ids (clip paths) from colliding with the others' in one document, and
the page needs no network and no script. Each function returns an ``<img>`` tag or ``""``
when there is nothing to draw.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd

LIGHT_COLOURS: dict[str, str] = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "grey": "#9e9e9e"}
MAX_BARS = 60
"""PSI bars drawn at most (the worst ones): past that the labels are unreadable; the
table below the chart still lists every feature."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "creditdesk", "font.size": 9})
    return plt


def _img(fig: Any, alt: str) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def psi_bars(table: pd.DataFrame, title: str = "PSI by feature") -> str:
    """Horizontal bars of PSI per feature, coloured by band, with the 0.10 and 0.25 lines."""
    if table.empty:
        return ""
    plt = _pyplot()
    shown = table.sort_values("psi", ascending=False).head(MAX_BARS).iloc[::-1]
    height = max(2.0, 0.22 * len(shown) + 0.8)
    fig, ax = plt.subplots(figsize=(7.0, height))
    ax.barh(
        shown["feature"].astype(str),
        shown["psi"],
        color=[LIGHT_COLOURS[x] for x in shown["light"]],
    )
    for x, style in ((0.10, "--"), (0.25, "-")):
        ax.axvline(x, color="#555555", linestyle=style, linewidth=0.8)
    ax.set_xlabel("PSI (reference deciles)")
    ax.set_title(title)
    ax.set_xlim(0, max(0.3, float(shown["psi"].max()) * 1.1))
    return _img(fig, title)


def score_distributions(reference: np.ndarray, current: np.ndarray, is_pd: bool) -> str:
    """Reference and current score densities; PD on a log axis, where credit PDs live."""
    plt = _pyplot()
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        return ""
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    both = np.concatenate([ref, cur])
    if is_pd:
        lo = max(float(both.min()), 1e-4)
        hi = max(float(both.max()), lo * 10)
        edges = np.geomspace(lo, hi, 41)
        ax.set_xscale("log")
        ax.set_xlabel("PD 12 months (log scale)")
    else:
        edges = np.linspace(float(both.min()), float(both.max()) + 1e-12, 41)
        ax.set_xlabel("score")
    ax.hist(np.clip(ref, edges[0], edges[-1]), bins=edges, density=True, alpha=0.5, label="reference")
    ax.hist(np.clip(cur, edges[0], edges[-1]), bins=edges, density=True, alpha=0.5, label="current")
    ax.set_ylabel("density")
    ax.set_title("Score distribution")
    ax.legend()
    return _img(fig, "Score distribution, reference and current")


def calibration_chart(table: pd.DataFrame) -> str:
    """Observed default rate (with its 90% Jeffreys interval) against mean PD per grade."""
    if table.empty:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    x = np.arange(len(table))
    observed = table["observed_rate"].to_numpy(dtype=float)
    lower = np.maximum(observed - table["ci_low"].to_numpy(dtype=float), 0)
    upper = np.maximum(table["ci_high"].to_numpy(dtype=float) - observed, 0)
    ax.errorbar(x, observed, yerr=[lower, upper], fmt="o", color="#1565c0", label="observed (90% Jeffreys)")
    ax.plot(x, table["mean_pd"].to_numpy(dtype=float), "s--", color="#ef6c00", label="mean predicted PD")
    for xi, light in zip(x, table["light"], strict=True):
        ax.axvspan(xi - 0.4, xi + 0.4, color=LIGHT_COLOURS[str(light)], alpha=0.08)
    ax.set_xticks(x, [str(g) for g in table["grade"]])
    ax.set_yscale("log")
    ax.set_xlabel("grade")
    ax.set_ylabel("12-month default rate")
    ax.set_title("Calibration by grade")
    ax.legend()
    return _img(fig, "Calibration by grade")


def cohort_auc_chart(table: pd.DataFrame, reference_auc: float | None) -> str:
    """AUC per monthly cohort, with the reference AUC as a line."""
    shown = table[np.isfinite(table["auc"].to_numpy(dtype=float))] if not table.empty else table
    if shown.empty:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    x = np.arange(len(shown))
    ax.plot(x, shown["auc"].to_numpy(dtype=float), "-", color="#1565c0", linewidth=1)
    ax.scatter(x, shown["auc"], c=[LIGHT_COLOURS[str(v)] for v in shown["auc_light"]], zorder=3)
    if reference_auc is not None and np.isfinite(reference_auc):
        ax.axhline(reference_auc, color="#555555", linestyle="--", linewidth=0.8, label="reference AUC")
        ax.legend()
    step = max(1, len(shown) // 12)
    ax.set_xticks(x[::step], list(shown["cohort"].astype(str))[::step], rotation=45, ha="right")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("AUC")
    ax.set_title("AUC by application cohort")
    return _img(fig, "AUC by application cohort")


def vintage_chart(vintages: dict[str, list[float]]) -> str:
    """Cumulative default rate by months on book, one line per origination cohort."""
    shown = {c: v for c, v in vintages.items() if v}
    if not shown:
        return ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.2))
    for cohort, rates in sorted(shown.items()):
        ax.plot(
            np.arange(1, len(rates) + 1),
            100 * np.asarray(rates, dtype=float),
            "-o",
            markersize=2.5,
            label=cohort,
        )
    ax.set_xlabel("months on book")
    ax.set_ylabel("cumulative default rate, %")
    ax.set_title("Vintage curves (defaults read from the ledger)")
    ax.legend(ncol=5, fontsize=7, loc="upper left", frameon=False)
    return _img(fig, "Vintage curves")


def book_activity_chart(by_month: list[dict[str, Any]]) -> str:
    """Margin calls, liquidations, shortfalls and defaults per month of the book."""
    if not by_month:
        return ""
    plt = _pyplot()
    frame = pd.DataFrame(by_month)
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    x = np.arange(len(frame))
    kinds = ("calls_issued", "liquidations", "shortfalls", "defaults")
    for k, kind in enumerate(kinds):
        ax.bar(
            x + (k - 1.5) * 0.2, frame[kind].to_numpy(dtype=float), width=0.2, label=kind.replace("_", " ")
        )
    step = max(1, len(frame) // 12)
    ax.set_xticks(x[::step], list(frame["month"].astype(str))[::step], rotation=45, ha="right")
    ax.set_ylabel("count")
    ax.set_title("Book and margin activity by month")
    ax.legend(fontsize=7)
    return _img(fig, "Book and margin activity by month")
