"""The committee's view of a book run: what the books saw, read back from the ledger.

Why one module: every figure here is read from the book's database (its ledger, margin
tables and ``book_*`` rows) and the population's real prices, never from the generator's
simulated outcomes, so the committee sees the platform's own history at the latest book
day: vintage curves, book and margin activity by month, market risk of the open book
(historical VaR/ES, its backtest and the stress scenarios), provisions by stage, the latest
line review and model performance on matured vintages only. ``export_current`` writes the
book's decided applications as a monitoring set (features + decisions) for the rest of
the report, and ``compare_models`` scores champion and challenger on the same later
applications.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from creditdesk.errors import InputError
from pipelines.book_state import book_days, book_decisions, book_lines

NS_PER_DAY = 86_400 * 10**9
HISTORY_DAYS = 250  # VaR window (one year of trading days), as the stress job
MAX_EARLY_WARNINGS = 15
ACTIVITY_KEYS = (
    "opened",
    "calls_issued",
    "calls_met",
    "topups",
    "liquidations",
    "shortfalls",
    "cured",
    "defaults",
    "written_off_minor",
    "recovered_minor",
)


def _engine(database_url: str) -> Any:
    from ledger.storage import make_engine

    return make_engine(database_url)


def _last_day(conn: Connection, database_url: str) -> int:
    from sqlalchemy import func

    last = conn.execute(select(func.max(book_days.c.day))).scalar()
    if last is None:
        raise InputError(f"{database_url}: no committed book days (run creditdesk book run)", field="book")
    return int(last)


def activity_by_month(conn: Connection) -> list[dict[str, Any]]:
    """Calls, liquidations, shortfalls, defaults, write-offs and recoveries per calendar month."""
    months: dict[str, Counter[str]] = {}
    for r in conn.execute(select(book_days).order_by(book_days.c.day)):
        month = f"{int(r.day) // 10_000}-{int(r.day) // 100 % 100:02d}"
        counts = json.loads(r.summary)
        months.setdefault(month, Counter()).update({k: int(counts.get(k, 0)) for k in ACTIVITY_KEYS})
    return [{"month": m, **{k: int(c[k]) for k in ACTIVITY_KEYS}} for m, c in months.items()]


def matured_performance(labels: pd.DataFrame, lines: pd.DataFrame) -> dict[str, Any]:
    """PD at decision against the ledger's 12-month default, matured lines only (by grade too)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    m = labels[labels["matured"]].merge(lines, on="customer_id", how="inner", validate="1:1")
    out: dict[str, Any] = {"matured_lines": len(m), "defaults": int(m["default"].sum())}
    if m.empty:
        return {**out, "note": "no line has been observed for 12 months yet"}
    y, p = m["default"].to_numpy(dtype=int), m["pd_12m"].to_numpy(dtype=float)
    out.update(
        default_rate=round(float(y.mean()), 6),
        mean_pd=round(float(p.mean()), 6),
        brier=round(float(brier_score_loss(y, p)), 6),
        auc=round(float(roc_auc_score(y, p)), 4) if 0 < y.sum() < len(y) else None,
    )
    by = m.groupby("grade").agg(
        lines=("default", "size"), defaults=("default", "sum"), mean_pd=("pd_12m", "mean")
    )
    out["by_grade"] = [
        {
            "grade": int(g),
            "lines": int(r.lines),
            "defaults": int(r.defaults),
            "mean_pd": round(float(r.mean_pd), 6),
        }
        for g, r in by.iterrows()
    ]
    return out


def market_risk(engine: Any, prices: Any, volumes: pd.DataFrame, day_index: int) -> dict[str, Any]:
    """Historical VaR 99 % / ES 97.5 % of the open book's positions at the latest marks, the
    backtest of those positions over the last 250 days (hypothetical P&L: rolling 250-day
    VaR against each day's P&L), and the three stress scenarios (``margin.risk``)."""
    from margin.book import load_book
    from margin.engine import regime
    from margin.repository import run_margin
    from margin.risk import STRESS_SCENARIOS, backtest, pnl_scenarios, stress, var_es

    state = run_margin(engine, load_book)
    if len(state.customer_ids) == 0 or len(state.pos_quantity) == 0:
        return {"note": "no open positions on the last book day"}
    book = state.sub_book(np.arange(len(state.customer_ids)))
    cols = state.instrument_ids - 1  # instrument id = price column + 1 (PriceBook)
    close = prices.close[: day_index + 1, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.nan_to_num(close[1:] / close[:-1] - 1.0, nan=0.0, posinf=0.0, neginf=0.0)
    if len(returns) < 2 * HISTORY_DAYS + 1:
        return {"note": f"fewer than {2 * HISTORY_DAYS + 1} days of prices before the last book day"}
    pnl = pnl_scenarios(book, state.prices, returns[-(2 * HISTORY_DAYS + 1) :]).sum(axis=1)
    var, es = var_es(pnl[-HISTORY_DAYS:])
    bt = backtest(pnl, window=HISTORY_DAYS, last=HISTORY_DAYS)
    value = float((book.pos_quantity * state.prices[book.pos_instrument]).sum())
    adv = volumes.reindex(columns=prices.tickers[cols]).iloc[-20:].mean().fillna(0).to_numpy()
    vol = np.nan_to_num(returns[-20:].std(axis=0), nan=0.02)
    scenarios = []
    for sc in STRESS_SCENARIOS.values():
        res = stress(book, state.prices, state.conversion, np.maximum(adv, 1.0), vol, regime("cn"), sc)
        scenarios.append(
            {
                "scenario": sc.name,
                "shock": sc.shock,
                "accounts_called_or_worse": int((res.status >= 2).sum()),
                "loss_minor": int(np.rint(res.loss_minor.sum())),
            }
        )
    return {
        "positions_value_minor": round(value),
        "var99_minor": round(float(var[0])),
        "es975_minor": round(float(es[0])),
        "backtest": {
            "observations": bt.observations,
            "exceptions": bt.exceptions,
            "kupiec_p_value": round(float(bt.kupiec_p_value), 4),
            "zone": bt.zone,
            "pnl": "hypothetical: the last day's positions over each of the last 250 days",
        },
        "stress": scenarios,
    }


def _lines(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(
        select(book_lines.c.customer_id, book_lines.c.grade, book_lines.c.pd_12m, book_lines.c.status)
    ).all()
    return pd.DataFrame(rows, columns=["customer_id", "grade", "pd_12m", "status"])


def book_figures(database_url: str, population: Path, comparison: Path | None = None) -> dict[str, Any]:
    """Every book section of the committee report, JSON-safe, as of the last committed day."""
    from margin.outcomes import labels_from_books, read_credit_transfers, read_facilities
    from monitoring.vintages import vintage_curves, vintages_json
    from pipelines.book import latest_review
    from pipelines.book_inputs import PriceBook

    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            last = _last_day(conn, database_url)
            as_of = pd.Timestamp(str(last))
            labels = labels_from_books(
                read_credit_transfers(conn), read_facilities(conn), int(as_of.value) + NS_PER_DAY
            )
            lines = _lines(conn)
            activity = activity_by_month(conn)
            review = latest_review(conn)
            summary = json.loads(
                conn.execute(select(book_days.c.summary).where(book_days.c.day == last)).scalar_one()
            )
            decisions = Counter(r.outcome for r in conn.execute(select(book_decisions.c.outcome)))
        raw = pd.read_parquet(Path(population) / "prices.parquet")
        prices = PriceBook.from_prices(raw)
        volumes = raw.pivot_table(
            index="date", columns="ticker", values="volume", aggfunc="last"
        ).sort_index()
        day_index = int(np.searchsorted(prices.days, np.datetime64(as_of.date(), "D")))
        volumes = volumes.iloc[: day_index + 1]
        risk = market_risk(engine, prices, volumes, day_index)
    finally:
        engine.dispose()
    totals = {k: sum(int(m[k]) for m in activity) for k in ACTIVITY_KEYS}
    provisions = [
        {
            "stage": s,
            "lines": int(summary.get(f"stage{s}_lines", 0)),
            "ead_minor": int(summary.get(f"stage{s}_ead_minor", 0)),
            "ecl_minor": int(summary.get(f"stage{s}_ecl_minor", 0)),
        }
        for s in (1, 2, 3)
    ]
    out: dict[str, Any] = {
        "as_of": as_of.strftime("%Y-%m-%d"),
        "vintages": vintages_json(vintage_curves(labels, as_of, max_months=24)),
        "book": {
            "decisions": dict(decisions),
            "lines": dict(Counter(lines["status"])),
            "totals": totals,
            "defaults_from_ledger": int(labels["default"].sum()),
            "loss_minor": int(labels["loss_minor"].sum()),
            "recovery_minor": int(labels["recovery_minor"].sum()),
            "by_month": activity,
            "market_risk": risk,
        },
        "provisions": {"month_end": last, "by_stage": provisions},
        "line_review": {**review, "early_warning": review["early_warning"][:MAX_EARLY_WARNINGS]},
        "matured_performance": matured_performance(labels, lines),
    }
    if comparison is not None:
        out["champion_vs_challenger"] = json.loads(Path(comparison).read_text())
    return out


def export_current(database_url: str, features_dir: Path, out_dir: Path) -> dict[str, Any]:
    """The book's decided applications as a monitoring set: ``features.parquet`` (no labels:
    their outcomes are not known at the report date) and ``decisions.parquet``."""
    from creditdesk.atomic import atomic_dir, write_parquet_atomic

    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            records = [json.loads(r.record) for r in conn.execute(select(book_decisions.c.record))]
    finally:
        engine.dispose()
    if not records:
        raise InputError(f"{database_url}: the book decided no application", field="db")
    decisions = pd.DataFrame(records).sort_values("application_id").reset_index(drop=True)
    feats = pd.read_parquet(Path(features_dir) / "features.parquet")
    feats = feats[feats["application_id"].isin(decisions["application_id"])].reset_index(drop=True)
    with atomic_dir(out_dir) as tmp:
        write_parquet_atomic(feats, tmp / "features.parquet")
        write_parquet_atomic(decisions, tmp / "decisions.parquet")
    return {"applications": len(decisions), "approved": int((decisions["outcome"] == "approve").sum())}


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    both = 0 < y.sum() < len(y)
    return {
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 6),
        "mean_pd": round(float(p.mean()), 6),
    }


def _model_set(directory: Path | None, alias: str) -> Any:
    """A train output folder (pd/, lgd/, ead/), or the registry's models under ``alias``."""
    from models.bundle import ChampionSet

    if directory is not None:
        if not all((Path(directory) / n).is_dir() for n in ("pd", "lgd", "ead")):
            raise InputError(f"{directory} must hold pd/, lgd/ and ead/ bundles", field=alias)
        return ChampionSet.from_dirs(Path(directory) / "pd", Path(directory) / "lgd", Path(directory) / "ead")
    from models.registry import load_champions

    try:
        return load_champions(alias=alias)
    except LookupError as exc:
        raise InputError(f"{exc}; or pass --{alias} DIR (a train output folder)", field=alias) from exc


def compare_models(
    features_dir: Path,
    after: str,
    out: Path,
    champion_dir: Path | None = None,
    challenger_dir: Path | None = None,
) -> dict[str, Any]:
    """Champion and challenger PD on the same applications dated on or after ``after``.

    Outcome: each applicant's 12-month default in the population (known for every applicant,
    declined ones included, which a book cannot observe; the book's own matured lines are in
    the report's matured-performance section)."""
    from creditdesk.atomic import write_json_atomic

    feats = pd.read_parquet(Path(features_dir) / "features.parquet")
    labels = pd.read_parquet(Path(features_dir) / "labels.parquet")
    later = feats[pd.to_datetime(feats["application_date"]) >= pd.Timestamp(after)]
    later = later.merge(labels[["application_id", "default_12m"]], on="application_id", how="inner")
    if later.empty:
        raise InputError(f"--from {after}: no application dated on or after it", field="from")
    y = later["default_12m"].to_numpy(dtype=int)
    result: dict[str, Any] = {
        "applications_from": str(pd.Timestamp(after).date()),
        "applications_to": str(pd.to_datetime(later["application_date"]).max().date()),
        "applications": len(later),
        "defaults": int(y.sum()),
        "default_rate": round(float(y.mean()), 6),
        "outcome": "12-month default of every applicant (population outcome)",
    }
    models = {
        "champion": _model_set(champion_dir, "champion"),
        "challenger": _model_set(challenger_dir, "challenger"),
    }
    for name, m in models.items():
        p = m.score(later[m.feature_names].to_numpy(dtype=np.float64), with_reasons=False).pd_12m
        result[name] = _metrics(y, np.asarray(p, dtype=float))
    a, b = result["champion"]["auc"], result["challenger"]["auc"]
    result["better_auc"] = None if a is None or b is None else ("challenger" if b > a else "champion")
    write_json_atomic(result, out)
    return result


__all__ = ["book_figures", "compare_models", "export_current", "market_risk", "matured_performance"]
