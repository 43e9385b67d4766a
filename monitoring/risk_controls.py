"""The committee report's "Risk controls" section: regime timeline, reviews, concentration, refusals.

Pure: frames read from the books (``margin_risk_events``, ``margin_review_queue``,
``margin_order_refusals``, optionally the book's concentration by name) in, the section's
figures, tables, lights and alerts out — the same shape as the other mapping sections.

Lights: a market in crisis during the period is amber (the committee should know margin was
tightened, and why); reviews open for longer than ``stale_review_days`` are amber (flagged
accounts sit with their leverage cut until someone looks); a name whose financed exposure
exceeds its ADV capacity is red (the book could not be unwound at the policy participation).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

DAY_NS = 86_400 * 10**9


def _date(ns: pd.Series) -> pd.Series:
    return pd.to_datetime(ns.astype("int64")).dt.strftime("%Y-%m-%d")


def _timeline(events: pd.DataFrame, start_ns: int, end_ns: int) -> pd.DataFrame:
    market = events[events["scope"] == "market"].sort_values("effective_ns")
    before = market[market["effective_ns"] < start_ns].tail(1)  # the level in force at the start
    inside = market[(market["effective_ns"] >= start_ns) & (market["effective_ns"] <= end_ns)]
    shown = pd.concat([before, inside])
    return pd.DataFrame(
        {
            "effective": _date(shown["effective_ns"]),
            "change": shown["previous"] + " → " + shown["value"],
            "statistic": shown["statistic"],
            "value": shown["statistic_value"].round(3),
            "threshold": shown["threshold"].round(3),
            "why": shown["reason"],
            "version": shown["version"],
        }
    )


def risk_controls_section(
    events: pd.DataFrame,
    reviews: pd.DataFrame,
    refusals: pd.DataFrame,
    start_ns: int,
    end_ns: int,
    concentration: pd.DataFrame | None = None,
    stale_review_days: int = 5,
) -> dict[str, Any] | None:
    """The section over [start_ns, end_ns]; None when the books hold no risk-control data."""
    if len(events) == 0 and len(reviews) == 0 and len(refusals) == 0 and concentration is None:
        return None
    figures: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    lights: list[str] = []
    alerts: list[dict[str, Any]] = []
    if len(events):
        timeline = _timeline(events, start_ns, end_ns)
        tables["regime timeline (market level, effective from)"] = timeline
        in_period = events[(events["effective_ns"] >= start_ns) & (events["effective_ns"] <= end_ns)]
        figures["regime events in period"] = len(in_period)
        freezes = in_period[in_period["kind"] == "buy_freeze"]
        figures["names frozen for new financed buys (events)"] = int((freezes["value"] == "frozen").sum())
        crisis = bool(timeline["change"].str.endswith("crisis").any())  # entered, or in force at start
        figures["crisis level in period"] = "yes" if crisis else "no"
        if crisis:
            lights.append("amber")
            alerts.append(
                {
                    "subject": "market regime",
                    "light": "amber",
                    "message": "market in crisis: margin tightened",
                }
            )
    if len(reviews):
        status = reviews["status"].astype(str)
        flagged = reviews[(reviews["flagged_ns"] >= start_ns) & (reviews["flagged_ns"] <= end_ns)]
        cleared = reviews[
            (reviews["cleared_ns"] >= start_ns) & (reviews["cleared_ns"] <= end_ns) & (status == "cleared")
        ]
        figures["accounts flagged in period"] = len(flagged)
        figures["accounts cleared in period"] = len(cleared)
        open_ = reviews[status == "open"]
        stale = int((open_["flagged_ns"] < end_ns - stale_review_days * DAY_NS).sum())
        figures["reviews open"] = len(open_)
        figures[f"reviews open > {stale_review_days} days"] = stale
        if stale:
            lights.append("amber")
            alerts.append(
                {
                    "subject": "anomaly reviews",
                    "light": "amber",
                    "message": f"{stale} review(s) waiting > {stale_review_days} days",
                }
            )
        tables["accounts flagged (top signals)"] = pd.DataFrame(
            {
                "customer": flagged["customer_id"],
                "flagged": _date(flagged["flagged_ns"]),
                "score": flagged["score"].round(3),
                "status": flagged["status"],
                "cleared by": flagged["cleared_by"],
                "signals": flagged["reasons"],
            }
        ).head(50)
    if len(refusals):
        inside = refusals[(refusals["at_ns"] >= start_ns) & (refusals["at_ns"] <= end_ns)]
        counts = inside.groupby("reason_code").size().rename("orders refused").reset_index()
        tables["pre-trade refusals by reason"] = counts
        figures["wash-trade refusals"] = int(inside["reason_code"].str.startswith("WASH_").sum())
    if concentration is not None and len(concentration):
        top = concentration.head(20)
        tables["concentration by name (financed exposure)"] = top
        over = int(concentration["financed_buys_stopped"].sum())
        figures["names with financed buying stopped"] = over
        if (concentration["adv_use"] > 1.0).any():
            lights.append("red")
            alerts.append(
                {
                    "subject": "platform concentration",
                    "light": "red",
                    "message": f"{over} name(s) above ADV/float capacity",
                }
            )
    lights.append("green")
    notes = [
        "Regime events are observed at a close and take effect from the next trading day; "
        "the level shown first is the one in force at the start of the period."
    ]
    return {"figures": figures, "tables": tables, "notes": notes, "lights": lights, "alerts": alerts}
