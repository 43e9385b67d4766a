"""A customer's trading activity, as the feature code wants it: from the ledger, or from the request.

The ledger core is the system of record for customers who trade on margin with us: when
it holds trades for the customer, those are the trades the features see, and the
``trades`` list of the request is ignored (a client cannot talk its way into a better
trading score). When it holds none (a cash-account customer applying for the first
time), the bounded list in the request is used.

The ledger keeps a trade as a linked chain of transfers (``margin.planners``) whose legs all
carry the trade's id; ``margin.trades.trades_before`` returns the customer's trades as facts
(quantity from the securities leg, gross from the cash leg, the fee leg), joined by that id
— no position arithmetic, so the order of the legs in a chain does not matter.

The activity used is stored with the decision (column arrays, compact JSON), so replay
recomputes from exactly the same inputs even after the ledger has moved on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, text

from ledger.storage import transfers
from margin.chart import Code, TransferCode, customer_account
from margin.storage import instruments as instrument_master
from margin.trades import trades_before

MINOR_PER_MAJOR = 100  # prices per share in the feature tables are major units (dollars, yuan)
FLOW_CODES = (int(TransferCode.DEPOSIT), int(TransferCode.WITHDRAWAL))


def _ns(stamps: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(stamps).astype("datetime64[ns]").astype(np.int64)]


@dataclass(frozen=True)
class Activity:
    """Column arrays keyed like the ``trades`` and ``cash_flows`` tables (what ``online_features`` takes)."""

    source: str  # "ledger" or "request"
    trades: dict[str, Any]
    cash_flows: dict[str, Any]

    @property
    def n_trades(self) -> int:
        return len(self.trades["side"])

    def to_json(self) -> dict[str, Any]:
        """Compact, exact JSON: timestamps as integer nanoseconds, prices as floats."""
        return {
            "source": self.source,
            "trades": {
                "trade_id": [int(v) for v in self.trades["trade_id"]],
                "timestamp_ns": _ns(self.trades["timestamp"]),
                "ticker": [str(v) for v in self.trades["ticker"]],
                "side": [str(v) for v in self.trades["side"]],
                "quantity": self.trades["quantity"].tolist(),
                "price": self.trades["price"].tolist(),
                "fees_minor": self.trades["fees_minor"].tolist(),
            },
            "cash_flows": {
                "timestamp_ns": _ns(self.cash_flows["timestamp"]),
                "kind": [str(v) for v in self.cash_flows["kind"]],
                "amount_minor": self.cash_flows["amount_minor"].tolist(),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Activity:
        t, c = data["trades"], data["cash_flows"]
        return cls(
            source=str(data["source"]),
            trades={
                "trade_id": np.asarray(t["trade_id"], dtype=np.int64),
                "timestamp": np.asarray(t["timestamp_ns"], dtype=np.int64).astype("datetime64[ns]"),
                "ticker": list(t["ticker"]),
                "side": list(t["side"]),
                "quantity": np.asarray(t["quantity"], dtype=np.int64),
                "price": np.asarray(t["price"], dtype=np.float64),
                "fees_minor": np.asarray(t["fees_minor"], dtype=np.int64),
            },
            cash_flows={
                "timestamp": np.asarray(c["timestamp_ns"], dtype=np.int64).astype("datetime64[ns]"),
                "kind": list(c["kind"]),
                "amount_minor": np.asarray(c["amount_minor"], dtype=np.int64),
            },
        )


def from_request(trades: Any, cash_flows: Any) -> Activity:
    """The request's own lists (pydantic models) as column arrays."""
    trades = trades or []
    flows = cash_flows or []
    return Activity(
        source="request",
        trades={
            "trade_id": np.array([t.trade_id for t in trades], dtype=np.int64),
            "timestamp": np.array([t.timestamp for t in trades], dtype="datetime64[ns]"),
            "ticker": [t.ticker for t in trades],
            "side": [t.side for t in trades],
            "quantity": np.array([t.quantity for t in trades], dtype=np.int64),
            "price": np.array([t.price for t in trades], dtype=np.float64),
            "fees_minor": np.array([t.fees_minor for t in trades], dtype=np.int64),
        },
        cash_flows={
            "timestamp": np.array([c.timestamp for c in flows], dtype="datetime64[ns]"),
            "kind": [c.kind for c in flows],
            "amount_minor": np.array([c.amount_minor for c in flows], dtype=np.int64),
        },
    )


def _cutoff_ns(application_date: dt.date) -> int:
    return int(np.datetime64(application_date, "ns").astype(np.int64))


def _codes(codes: tuple[int, ...]) -> str:
    return ", ".join(str(int(code)) for code in codes)


# Plain SQL, compiled once: building these as SQLAlchemy expressions cost more per request
# than running them.
_FLOWS = text(
    f"SELECT credit_account_id, amount_minor, timestamp_ns FROM {transfers.name} "
    "WHERE (debit_account_id = :cash OR credit_account_id = :cash) "
    f"AND code IN ({_codes(FLOW_CODES)}) AND timestamp_ns < :cutoff ORDER BY timestamp_ns"
)
_SYMBOLS = text(
    f"SELECT instrument_id, symbol FROM {instrument_master.name} WHERE instrument_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def from_ledger(
    engine: Engine, customer_id: int, application_date: dt.date, max_trades: int
) -> Activity | None:
    """The customer's trades and cash flows before ``application_date`` from the ledger, or None.

    None when the ledger holds no trade of the customer before that date. At most the
    newest ``max_trades`` trades are used (the same bound as a request's list).
    """
    try:
        cash = customer_account(customer_id, Code.CUSTOMER_CASH)
    except ValueError:  # outside the ledger's id scheme: the ledger cannot hold this customer
        return None
    cutoff = _cutoff_ns(application_date)
    with engine.connect() as conn:
        found = trades_before(conn, customer_id, cutoff, max_trades)
        if not len(found):
            return None
        flows = conn.execute(_FLOWS, {"cash": cash, "cutoff": cutoff}).all()
        ids = sorted(set(found.instrument_id.tolist()))
        symbols = {int(i): str(sym) for i, sym in conn.execute(_SYMBOLS, {"ids": ids}).all()}
    return Activity(
        source="ledger",
        trades={
            "trade_id": found.trade_id,
            "timestamp": found.timestamp_ns.astype("datetime64[ns]"),
            "ticker": [symbols.get(int(i), f"#{int(i)}") for i in found.instrument_id],
            "side": [str(v) for v in found.side],
            "quantity": found.quantity,
            "price": found.gross_minor / found.quantity / MINOR_PER_MAJOR,
            "fees_minor": found.fee_minor,
        },
        cash_flows={
            "timestamp": np.array([int(f.timestamp_ns) for f in flows], dtype=np.int64).astype(
                "datetime64[ns]"
            ),
            "kind": ["deposit" if f.credit_account_id == cash else "withdrawal" for f in flows],
            "amount_minor": np.array([int(f.amount_minor) for f in flows], dtype=np.int64),
        },
    )
