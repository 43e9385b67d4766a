"""The risk controls in the books: risk events, the anomaly review queue, pre-trade refusals.

Tables (declared in ``margin/storage.py``, migration 0004), written by the jobs at the edge and read
by the committee report. Appending an event goes through ``EventLog``'s rule in SQL form: an
event whose effective time is not after the last marked price in the books
(``margin_instruments.price_as_of_ns``) or that does not advance its scope's version is
refused, and nothing is written (one transaction for a batch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table, func, insert, select, update

from creditdesk.errors import InputError
from margin.risk_events import EventLog, RiskEvent
from margin.storage import instruments, order_refusals, review_queue, risk_events

__all__ = ["order_refusals", "review_queue", "risk_events"]


def last_marked_ns(conn: Any) -> int:
    """The latest price time already marked in the books (−1 when nothing is)."""
    value = conn.execute(select(func.max(instruments.c.price_as_of_ns))).scalar()
    return -1 if value is None else int(value)


def append_events(engine: Engine, events: Iterable[RiskEvent], policy_version: str) -> int:
    """Write events after checking them against the books; all or nothing. Returns how many."""
    batch = list(events)
    with engine.begin() as conn:
        log = EventLog(last_marked_ns=last_marked_ns(conn))
        rows = conn.execute(
            select(risk_events.c.scope, func.max(risk_events.c.version)).group_by(risk_events.c.scope)
        ).all()
        log._versions.update({scope: int(v) for scope, v in rows})
        for ev in batch:
            log.append(ev)  # raises InputError: retroactive or out of version order
        if batch:
            conn.execute(
                insert(risk_events),
                [{**ev.to_row(), "policy_version": policy_version} for ev in batch],
            )
    return len(batch)


def read_events(engine: Engine, since_ns: int = 0) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(
            select(risk_events).where(risk_events.c.effective_ns >= since_ns).order_by(risk_events.c.event_id)
        )
        return pd.DataFrame(result.mappings().all(), columns=[c.name for c in risk_events.columns])


def flag_account(
    engine: Engine, customer_id: int, at_ns: int, score: float, reasons: str, multiplier: float
) -> bool:
    """Open a review for the account unless one is open; True when a new one was opened."""
    with engine.begin() as conn:
        open_ = conn.execute(
            select(review_queue.c.review_id).where(
                (review_queue.c.customer_id == customer_id) & (review_queue.c.status == "open")
            )
        ).first()
        if open_ is not None:
            return False
        conn.execute(
            insert(review_queue).values(
                customer_id=customer_id,
                flagged_ns=at_ns,
                score=score,
                reasons=reasons[:600],
                leverage_multiplier_bps=round(multiplier * 10_000),
                status="open",
                cleared_ns=0,
                cleared_by="",
                note="",
            )
        )
    return True


def clear_account(engine: Engine, customer_id: int, at_ns: int, analyst: str, note: str = "") -> None:
    """An analyst clears the open review: the leverage cut ends."""
    if not analyst.strip():
        raise InputError("an analyst name is required to clear a review", field="analyst")
    with engine.begin() as conn:
        done = conn.execute(
            update(review_queue)
            .where((review_queue.c.customer_id == customer_id) & (review_queue.c.status == "open"))
            .values(status="cleared", cleared_ns=at_ns, cleared_by=analyst[:64], note=note[:400])
        )
        if done.rowcount == 0:
            raise InputError(f"customer {customer_id} has no open review", field="customer_id")


def leverage_multiplier(conn: Any, customer_id: int) -> float:
    """× max leverage for a customer: the cut of its open review, 1 otherwise."""
    bps = conn.execute(
        select(review_queue.c.leverage_multiplier_bps).where(
            (review_queue.c.customer_id == customer_id) & (review_queue.c.status == "open")
        )
    ).scalar()
    return 1.0 if bps is None else bps / 10_000


def record_refusal(
    conn: Any, customer_id: int, instrument_id: int, at_ns: int, code: str, detail: str
) -> None:
    conn.execute(
        insert(order_refusals).values(
            customer_id=customer_id,
            instrument_id=instrument_id,
            at_ns=at_ns,
            reason_code=code,
            detail=detail[:400],
        )
    )


def read_table(engine: Engine, table: Table) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])
