"""Month end of the living book: behavioural re-scoring, line review, early warning.

Re-scoring runs the one feature code over what the platform knows at month end: the
customer's cash-account history plus every trade of the margin account read back from the
ledger (``margin.trades.trades_before``, legs joined by trade id), with the account's equity
as platform assets and the line as the request, and scores it with the same champion that
decided the line. The bureau and KYC rows are those of the application (no new bureau pull
is simulated). The review policy (``pricing.line_review``) then cuts, freezes, keeps or
raises each line, and the new limit is posted to the facility and its line account.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, update

from margin.credit_books import plan_line_change
from margin.storage import facilities
from margin.trades import trades_before
from pipelines.book_state import book_reviews
from pricing.line_review import review_lines

MAX_TRADES_PER_LINE = 2_000
NEVER_CALLED_DAYS = 10**6


def _ledger_trades(ctx: Any, rows: list[Any], before_ns: int) -> pd.DataFrame:
    tickers = ctx.book.prices.tickers
    frames = []
    for r in rows:
        t = trades_before(ctx.conn, r.customer_id, before_ns, MAX_TRADES_PER_LINE)
        if len(t) == 0:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "trade_id": t.trade_id,
                    "customer_id": r.customer_id,
                    "timestamp": pd.to_datetime(t.timestamp_ns),
                    "ticker": tickers[t.instrument_id - 1],
                    "side": t.side.astype(str),
                    "quantity": t.quantity,
                    "price": t.gross_minor / t.quantity / 100.0,
                    "fees_minor": t.fee_minor,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def rescore(ctx: Any, rows: list[Any]) -> np.ndarray:
    """Behavioural PD per line: the champion on features built from the ledger's history."""
    from features.builders import build_features

    book = ctx.book
    as_of = pd.Timestamp(str(ctx.day)[:10]) + pd.Timedelta(days=1)  # features strictly before it
    cids = [r.customer_id for r in rows]
    cash, _debt, value = ctx.book_state(cids)
    apps = pd.DataFrame(
        {
            "application_id": [r.application_id for r in rows],
            "customer_id": cids,
            "application_date": as_of,
            "requested_line_minor": [r.limit_minor for r in rows],
            "platform_assets_minor": np.maximum(np.rint(cash + value), 1).astype(np.int64),
        }
    )
    history = book.tables["trades"]
    history = history[history["customer_id"].isin(cids)]
    ledger = _ledger_trades(ctx, rows, int(as_of.value))
    trades = pd.concat([history, ledger], ignore_index=True) if len(ledger) else history
    feats = build_features({**book.tables, "applications": apps, "trades": trades}, book.instruments)
    names = book.champions.feature_names
    scored = book.champions.score(feats[names].to_numpy(dtype=np.float64), with_reasons=False)
    return np.asarray(scored.pd_12m, dtype=np.float64)


def _days(a: int, b: int) -> int:
    return int((pd.Timestamp(str(b)) - pd.Timestamp(str(a))).days)


def review(ctx: Any) -> dict[int, float]:
    """Re-score and review every open or collected line; post new limits; return PD by customer."""
    rows = ctx.lines("open", "collection")
    if not rows:
        return {}
    pd_now = rescore(ctx, rows)
    loans = np.rint(ctx.book_state([r.customer_id for r in rows])[1]).astype(np.int64)
    policy = ctx.book.policy
    out = review_lines(
        limit_minor=[r.limit_minor for r in rows],
        drawn_minor=loans,
        max_line_minor=[policy.tier(int(r.grade)).max_line_minor for r in rows],
        pd_at_origination=[r.pd_12m for r in rows],
        pd_now=pd_now,
        days_since_call=[
            _days(r.last_call_day, ctx.ymd) if r.last_call_day else NEVER_CALLED_DAYS for r in rows
        ],
        days_past_due=[_days(r.shortfall_since, ctx.ymd) if r.status == "collection" else 0 for r in rows],
        months_on_book=[_days(r.application_day, ctx.ymd) // 30 for r in rows],
    )
    for r, res, p in zip(rows, out.itertuples(index=False), pd_now, strict=True):
        _apply(ctx, r, res, float(p))
    return {r.customer_id: float(p) for r, p in zip(rows, pd_now, strict=True)}


def _apply(ctx: Any, row: Any, res: Any, pd_now: float) -> None:
    new_limit = int(res.new_limit_minor)
    change = plan_line_change(row.customer_id, f"review-{ctx.ymd}", int(row.limit_minor), new_limit, 156)
    if change is not None:
        ctx.post([change], [row.customer_id])
        ctx.conn.execute(
            update(facilities).where(facilities.c.customer_id == row.customer_id).values(line_minor=new_limit)
        )
        ctx.set_line(row.customer_id, limit_minor=new_limit)
    ctx.conn.execute(
        insert(book_reviews).values(
            month_end=ctx.ymd,
            customer_id=row.customer_id,
            action=str(res.action),
            reason=str(res.reason),
            early_warning=bool(res.early_warning),
            old_limit_minor=int(row.limit_minor),
            new_limit_minor=new_limit,
            pd_at_origination=float(row.pd_12m),
            pd_now=pd_now,
        )
    )
    ctx.counts[f"review_{res.action}"] += 1
    ctx.counts["early_warning"] += int(bool(res.early_warning))


__all__ = ["rescore", "review"]
