"""A customer's trades as facts: every leg of a trade carries its trade id (``user_data``).

The decision path needs the customer's trades before the application date. The ledger
holds them as linked chains of transfers (``margin.planners``): the securities leg, the cash
leg, an optional fee, and the loan draw or repayment the trade caused, all stamped with
the same trade id. ``trades_before`` finds the newest securities legs before ``t`` and
joins the other legs by that id — no assumption about where in a chain a leg sits, so
reordering or adding legs cannot change what a trade is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, bindparam, text

from margin.chart import Code, TransferCode, customer_account
from margin.domain import MAX_INSTRUMENT_ID_INCLUSIVE

SECURITIES_CODES = (int(TransferCode.TRADE_SECURITIES), int(TransferCode.LIQUIDATION_SECURITIES))
CASH_LEG_CODES = (int(TransferCode.TRADE_CASH), int(TransferCode.LIQUIDATION_CASH))
FEE_CODE = int(TransferCode.FEE)


def _codes(codes: tuple[int, ...]) -> str:
    return ", ".join(str(c) for c in codes)


_SECURITIES_LEGS = text(
    "SELECT user_data, debit_account_id, credit_account_id, amount_minor, timestamp_ns FROM ledger_transfers"
    " WHERE (debit_account_id BETWEEN :low AND :high OR credit_account_id BETWEEN :low AND :high)"
    f" AND code IN ({_codes(SECURITIES_CODES)}) AND user_data != 0 AND timestamp_ns < :before"
    " ORDER BY timestamp_ns DESC LIMIT :max_trades"
)
_MONEY_LEGS = text(
    "SELECT user_data, code, amount_minor FROM ledger_transfers"
    " WHERE (debit_account_id = :cash OR credit_account_id = :cash)"
    f" AND code IN ({_codes((*CASH_LEG_CODES, FEE_CODE))}) AND user_data IN :ids"
).bindparams(bindparam("ids", expanding=True))


@dataclass(frozen=True)
class Trades:
    """Column arrays, oldest first: one row per trade."""

    trade_id: np.ndarray  # int64
    timestamp_ns: np.ndarray  # int64, the securities leg's ledger timestamp
    instrument_id: np.ndarray  # int64
    side: np.ndarray  # "buy" / "sell" (a forced liquidation is a sell)
    quantity: np.ndarray  # int64 shares
    gross_minor: np.ndarray  # int64, quantity × price
    fee_minor: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.trade_id)


def trades_before(conn: Connection, customer_id: int, before_ns: int, max_trades: int) -> Trades:
    """The customer's newest ``max_trades`` trades stamped before ``before_ns`` (oldest first)."""
    low = customer_account(customer_id, Code.SECURITIES, 0)
    high = low + MAX_INSTRUMENT_ID_INCLUSIVE
    legs = conn.execute(
        _SECURITIES_LEGS, {"low": low, "high": high, "before": before_ns, "max_trades": max_trades}
    ).all()[::-1]
    ids = [int(leg.user_data) for leg in legs]
    gross: dict[int, int] = {}
    fees: dict[int, int] = {}
    if ids:
        cash = customer_account(customer_id, Code.CUSTOMER_CASH)
        for tid, code, amount in conn.execute(_MONEY_LEGS, {"cash": cash, "ids": ids}):
            target = fees if code == FEE_CODE else gross
            target[int(tid)] = target.get(int(tid), 0) + int(amount)
    keep = [i for i, tid in enumerate(ids) if tid in gross]  # shares without cash: not a trade
    is_buy = [low <= legs[i].debit_account_id <= high for i in keep]
    held = [
        legs[i].debit_account_id if b else legs[i].credit_account_id
        for i, b in zip(keep, is_buy, strict=True)
    ]
    return Trades(
        np.array([ids[i] for i in keep], dtype=np.int64),
        np.array([int(legs[i].timestamp_ns) for i in keep], dtype=np.int64),
        np.array(held, dtype=np.int64) - low,
        np.array(["buy" if b else "sell" for b in is_buy], dtype=object),
        np.array([int(legs[i].amount_minor) for i in keep], dtype=np.int64),
        np.array([gross[ids[i]] for i in keep], dtype=np.int64),
        np.array([fees.get(ids[i], 0) for i in keep], dtype=np.int64),
    )
