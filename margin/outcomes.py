"""Outcomes read from the books: default, EAD, loss and recovery per facility.

Why from the ledger: a label the generator invents can disagree with what the platform
actually lived through; a label read from the transfers cannot. The books carry one
``DEFAULT_MARK`` memo transfer per defaulted facility (its amount is the exposure at default,
its ``user_data`` the cause: a shortfall unpaid past the cure period, or a credit event),
``WRITE_OFF`` transfers for what could not be collected, and ``RECOVERY`` transfers for cash
collected after the write-off (DESIGN.md: a forced liquidation that repays the loan in full
is not a default, so it leaves no mark).

``labels_from_books`` is pure (frames in, frame out); ``read_credit_transfers`` and
``read_facilities`` are the thin readers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from ledger.storage import transfers
from margin.chart import TransferCode, owner_of
from margin.credit_books import DEFAULT_CAUSES
from margin.storage import facilities

NS_PER_DAY = 86_400 * 10**9
OUTCOME_CODES = (int(TransferCode.DEFAULT_MARK), int(TransferCode.WRITE_OFF), int(TransferCode.RECOVERY))
LABEL_COLUMNS = [
    "customer_id",
    "opened_day",
    "matured",
    "default",
    "default_day",
    "default_cause",
    "ead_minor",
    "written_off_minor",
    "recovered_after_write_off_minor",
    "loss_minor",
    "recovery_minor",
]


def read_credit_transfers(conn: Connection) -> pd.DataFrame:
    """Every default mark, write-off and recovery transfer (code, accounts, amount, time, user_data)."""
    rows = conn.execute(
        select(
            transfers.c.code,
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            transfers.c.amount_minor,
            transfers.c.timestamp_ns,
            transfers.c.user_data,
        ).where(transfers.c.code.in_(OUTCOME_CODES))
    ).all()
    cols = ["code", "debit_account_id", "credit_account_id", "amount_minor", "timestamp_ns", "user_data"]
    return pd.DataFrame(rows, columns=cols).astype("int64")


def read_facilities(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(select(facilities.c.customer_id, facilities.c.opened_at_ns)).all()
    return pd.DataFrame(rows, columns=["customer_id", "opened_at_ns"]).astype("int64")


def _day(ns: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype="datetime64[ns]").astype("datetime64[D]")


def labels_from_books(
    credit_transfers: pd.DataFrame, facility_frame: pd.DataFrame, as_of_ns: int, horizon_days: int = 365
) -> pd.DataFrame:
    """One row per facility: matured (observed ``horizon_days`` after opening by ``as_of_ns``),
    default within the horizon, its day and cause, EAD, loss (written off − recovered) and
    recovery (EAD − loss)."""
    t = credit_transfers
    marks = t[t["code"] == int(TransferCode.DEFAULT_MARK)].assign(
        customer_id=lambda f: f["debit_account_id"] // 10**8
    )
    marks = marks.sort_values("timestamp_ns").drop_duplicates("customer_id")
    offs = t[t["code"] == int(TransferCode.WRITE_OFF)].assign(
        customer_id=lambda f: f["credit_account_id"].map(owner_of)
    )
    recs = t[t["code"] == int(TransferCode.RECOVERY)].assign(customer_id=lambda f: f["user_data"])
    out = facility_frame[["customer_id", "opened_at_ns"]].copy()
    out["opened_day"] = _day(out["opened_at_ns"])
    horizon_ns = horizon_days * NS_PER_DAY
    out["matured"] = out["opened_at_ns"] + horizon_ns <= as_of_ns
    m = marks.set_index("customer_id")
    mark_ns = out["customer_id"].map(m["timestamp_ns"])
    out["default"] = mark_ns.notna() & (mark_ns <= out["opened_at_ns"] + horizon_ns) & (mark_ns <= as_of_ns)
    out["default_day"] = pd.Series(_day(mark_ns.fillna(0)), index=out.index).where(mark_ns.notna())
    out["default_cause"] = out["customer_id"].map(m["user_data"]).map(DEFAULT_CAUSES).fillna("none")
    out["ead_minor"] = out["customer_id"].map(m["amount_minor"]).fillna(0).astype("int64")
    out["written_off_minor"] = (
        out["customer_id"].map(offs.groupby("customer_id")["amount_minor"].sum()).fillna(0).astype("int64")
    )
    out["recovered_after_write_off_minor"] = (
        out["customer_id"].map(recs.groupby("customer_id")["amount_minor"].sum()).fillna(0).astype("int64")
    )
    out["loss_minor"] = (out["written_off_minor"] - out["recovered_after_write_off_minor"]).clip(lower=0)
    out["recovery_minor"] = (out["ead_minor"] - out["loss_minor"]).clip(lower=0)
    return out[LABEL_COLUMNS].reset_index(drop=True)


__all__ = ["LABEL_COLUMNS", "OUTCOME_CODES", "labels_from_books", "read_credit_transfers", "read_facilities"]
