"""A customer's trading activity, as the feature code wants it: from the ledger, or from the request.

The ledger core is the system of record for customers who trade on margin with us: when
it holds trades for the customer, those are the trades the features see, and the
``trades`` list of the request is ignored (a client cannot talk its way into a better
trading score). When it holds none (a cash-account customer applying for the first
time), the bounded list in the request is used.

The ledger keeps a trade as a linked chain of transfers written by ``margin.lending``:
the securities leg (quantity) on the instrument's ledger, the cash leg (quantity × price)
and an optional fee on the currency ledger. Transfer timestamps count up by one within
a chain, so the legs of one trade sit at fixed distances from its securities leg:
buy: cash at −1 or −2 (a fee may sit between), fee at −1; sell: cash at +1, fee at +2.

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

MINOR_PER_MAJOR = 100  # prices per share in the feature tables are major units (dollars, yuan)
SECURITIES_CODES = (int(TransferCode.TRADE_SECURITIES), int(TransferCode.LIQUIDATION_SECURITIES))
CASH_LEG_CODES = (int(TransferCode.TRADE_CASH), int(TransferCode.LIQUIDATION_CASH))
FLOW_CODES = (int(TransferCode.DEPOSIT), int(TransferCode.WITHDRAWAL))
LEG_AND_FEE_CODES = (*CASH_LEG_CODES, int(TransferCode.FEE))


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
# than running them (the common case, a customer with no trades, runs only the first).
_LEGS = text(
    f"SELECT id, debit_account_id, credit_account_id, amount_minor, timestamp_ns FROM {transfers.name} "
    "WHERE (debit_account_id BETWEEN :low AND :high OR credit_account_id BETWEEN :low AND :high) "
    f"AND code IN ({_codes(SECURITIES_CODES)}) AND timestamp_ns < :cutoff "
    "ORDER BY timestamp_ns DESC LIMIT :max_trades"
)
_MONEY = text(
    f"SELECT debit_account_id, credit_account_id, amount_minor, code, timestamp_ns FROM {transfers.name} "
    "WHERE (debit_account_id = :cash OR credit_account_id = :cash) AND ("
    f"(code IN ({_codes(LEG_AND_FEE_CODES)}) AND timestamp_ns BETWEEN :first AND :last) "
    f"OR (code IN ({_codes(FLOW_CODES)}) AND timestamp_ns < :cutoff))"
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
        low = customer_account(customer_id, Code.SECURITIES, 0)
        cash = customer_account(customer_id, Code.CUSTOMER_CASH)
    except ValueError:  # outside the ledger's id scheme: the ledger cannot hold this customer
        return None
    high = low + 999_999
    cutoff = _cutoff_ns(application_date)
    with engine.connect() as conn:
        newest_first = conn.execute(
            _LEGS, {"low": low, "high": high, "cutoff": cutoff, "max_trades": max_trades}
        ).all()
        if not newest_first:
            return None
        legs = list(reversed(newest_first))  # oldest first, as the feature code orders them anyway
        window = {"cash": cash, "first": int(legs[0].timestamp_ns) - 2, "last": cutoff + 2, "cutoff": cutoff}
        money = list(conn.execute(_MONEY, window).all())
        instrument_ids = sorted(
            {
                (leg.debit_account_id if low <= leg.debit_account_id <= high else leg.credit_account_id) - low
                for leg in legs
            }
        )
        symbols = {int(i): str(s) for i, s in conn.execute(_SYMBOLS, {"ids": instrument_ids}).all()}
    found = _assemble(legs, money, symbols, low, high, cash)
    return found if found.n_trades else None


def _assemble(
    legs: list[Any], money: list[Any], symbols: dict[int, str], low: int, high: int, cash: int
) -> Activity:
    cash_legs = {int(m.timestamp_ns): int(m.amount_minor) for m in money if m.code in CASH_LEG_CODES}
    fees = {int(m.timestamp_ns): int(m.amount_minor) for m in money if m.code == TransferCode.FEE}
    n = len(legs)
    trade_id = np.empty(n, dtype=np.int64)
    stamp = np.empty(n, dtype=np.int64)
    quantity = np.empty(n, dtype=np.int64)
    price = np.empty(n, dtype=np.float64)
    fee = np.zeros(n, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    side = np.empty(n, dtype=object)
    ticker = np.empty(n, dtype=object)
    for i, leg in enumerate(legs):
        ts = int(leg.timestamp_ns)
        is_buy = low <= leg.debit_account_id <= high  # shares into the customer's account
        instrument = (leg.debit_account_id if is_buy else leg.credit_account_id) - low
        if is_buy:
            gross = cash_legs.get(ts - 1, cash_legs.get(ts - 2))
            fee[i] = fees.get(ts - 1, 0) if (ts - 2) in cash_legs and (ts - 1) not in cash_legs else 0
        else:
            gross = cash_legs.get(ts + 1)
            fee[i] = fees.get(ts + 2, 0)
        if gross is None:  # shares moved without a cash leg (a manual transfer): not a trade
            keep[i] = False
            continue
        trade_id[i] = int(leg.id)
        stamp[i] = ts
        quantity[i] = int(leg.amount_minor)
        price[i] = gross / int(leg.amount_minor) / MINOR_PER_MAJOR
        side[i] = "buy" if is_buy else "sell"
        ticker[i] = symbols.get(instrument, f"#{instrument}")
    flows = sorted((int(m.timestamp_ns), m) for m in money if m.code in FLOW_CODES)
    return Activity(
        source="ledger",
        trades={
            "trade_id": trade_id[keep],
            "timestamp": stamp[keep].astype("datetime64[ns]"),
            "ticker": ticker[keep].tolist(),
            "side": side[keep].tolist(),
            "quantity": quantity[keep],
            "price": price[keep],
            "fees_minor": fee[keep],
        },
        cash_flows={
            "timestamp": np.array([ts for ts, _ in flows], dtype=np.int64).astype("datetime64[ns]"),
            "kind": ["deposit" if m.credit_account_id == cash else "withdrawal" for _, m in flows],
            "amount_minor": np.array([int(m.amount_minor) for _, m in flows], dtype=np.int64),
        },
    )
