"""The margin book column-wise: what marking needs of every open facility, as numpy arrays.

``load_book`` reads it in one pass over the ledger's accounts (no per-facility query): the
account id scheme (``margin.chart``) says whose account it is and what it holds, so the
owner, code and instrument come from integer arithmetic on the ids. The arrays feed
``margin.engine`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text

from creditdesk.errors import InputError
from margin.chart import Code
from margin.domain import BPS_PER_UNIT
from margin.engine import Book
from margin.repository import MarginUnitOfWork

ACCOUNT_CODES = (Code.CUSTOMER_CASH, Code.MARGIN_LOAN, Code.ACCRUED_INTEREST, Code.SECURITIES)
_CODES_SQL = ", ".join(str(int(c)) for c in ACCOUNT_CODES)
_BALANCES = text(
    f"SELECT id, debits_posted - credits_posted FROM ledger_accounts WHERE code IN ({_CODES_SQL})"
    " AND debits_posted != credits_posted"
)
_OPEN_FACILITIES = text(
    "SELECT customer_id, regime, haircut_addon_bps FROM margin_facilities"
    " WHERE status = 'open' ORDER BY customer_id"
)
OWNER_SCALE = 10**8  # account id = owner × 10^8 + code × 10^6 + sub (margin.chart)
CODE_SCALE = 10**6


@dataclass
class BookState:
    """Open facilities (sorted by customer id) with balances, positions and instrument prices."""

    customer_ids: np.ndarray  # int64, sorted
    regime: np.ndarray  # str per facility
    cash: np.ndarray  # float64 minor units
    debt: np.ndarray  # loan + accrued interest and fees
    pos_account: np.ndarray  # index into customer_ids
    pos_instrument: np.ndarray  # index into instrument_ids
    pos_quantity: np.ndarray  # shares
    instrument_ids: np.ndarray  # int64, sorted
    prices: np.ndarray  # float64 minor units per share
    conversion: np.ndarray  # collateral conversion rate per instrument
    pos_account_id: np.ndarray  # the ledger account of each position row
    pos_instrument_id: np.ndarray  # the instrument id of each position row
    # per facility: the grade tier's haircut add-on stored at opening (a fraction, lowers every
    # conversion rate of the account as on the single-customer path); None: no add-ons
    haircut_addon: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def index_of(self, customer_ids: np.ndarray) -> np.ndarray:
        """Positions of ``customer_ids`` in the book, −1 for ids not in it."""
        return lookup(self.customer_ids, np.asarray(customer_ids, dtype=np.int64))

    def regime_rows(self) -> dict[str, np.ndarray]:
        """Facility rows per regime, computed once per loaded book (regimes do not change)."""
        groups: dict[str, np.ndarray] | None = self.extra.get("regime_rows")
        if groups is None or sum(len(r) for r in groups.values()) != len(self.customer_ids):
            groups = {
                str(name): np.flatnonzero(self.regime == name) for name in sorted(set(self.regime.tolist()))
            }
            self.extra["regime_rows"] = groups
        return groups

    def set_prices(self, prices_minor: dict[int, int]) -> None:
        if prices_minor:
            ids = np.fromiter(prices_minor, dtype=np.int64)
            self.prices[np.searchsorted(self.instrument_ids, ids)] = np.fromiter(
                prices_minor.values(), dtype=np.float64
            )

    def sub_book(self, rows: np.ndarray) -> Book:
        """The engine's ``Book`` for the facilities at ``rows`` (the whole book when all of them)."""
        addon = self.haircut_addon
        if len(rows) == len(self.customer_ids):
            return Book(
                self.cash,
                self.debt,
                self.pos_account,
                self.pos_instrument,
                self.pos_quantity,
                haircut_addon=addon,
            )
        remap = np.full(len(self.customer_ids), -1, dtype=np.int64)
        remap[rows] = np.arange(len(rows))
        keep = remap[self.pos_account] >= 0
        return Book(
            self.cash[rows],
            self.debt[rows],
            remap[self.pos_account[keep]],
            self.pos_instrument[keep],
            self.pos_quantity[keep],
            haircut_addon=None if addon is None else addon[rows],
        )


def lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each of ``ids`` in ``sorted_ids``, −1 where absent."""
    if not len(sorted_ids):
        return np.full(len(ids), -1, dtype=np.int64)
    idx = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[idx] == ids, idx, -1)


def _instrument_columns(uow: MarginUnitOfWork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # every tick reads the master: plain driver tuples (SQLAlchemy rows cost ~20 ms per 1,000)
    rows = uow.margin.instrument_columns()
    cols = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return cols[:, 0].copy(), cols[:, 1].astype(np.float64), cols[:, 2] / BPS_PER_UNIT


def book_from_balances(
    customer_ids: np.ndarray,
    regimes: np.ndarray,
    account_ids: np.ndarray,
    net_debit: np.ndarray,
    instruments: tuple[np.ndarray, np.ndarray, np.ndarray],
    haircut_addon: np.ndarray | None = None,
) -> BookState:
    """Pure: the book from account ids and their net debit balances (debits − credits posted)."""
    owner = account_ids // OWNER_SCALE
    code = (account_ids // CODE_SCALE) % 100
    sub = account_ids % CODE_SCALE
    n = len(customer_ids)
    idx_c = lookup(customer_ids, owner)
    mine = idx_c >= 0
    cash = np.zeros(n)
    debt = np.zeros(n)
    is_cash = mine & (code == Code.CUSTOMER_CASH)
    np.add.at(cash, idx_c[is_cash], -net_debit[is_cash].astype(np.float64))
    is_debt = mine & ((code == Code.MARGIN_LOAN) | (code == Code.ACCRUED_INTEREST))
    np.add.at(debt, idx_c[is_debt], net_debit[is_debt].astype(np.float64))
    inst_ids, prices, conversion = instruments
    is_pos = mine & (code == Code.SECURITIES) & (net_debit > 0)
    pos_inst = lookup(inst_ids, sub[is_pos])
    if (pos_inst < 0).any():
        missing = int(sub[is_pos][pos_inst < 0][0])
        raise InputError(f"instrument {missing} has no price: register it first", field="instrument_id")
    return BookState(
        customer_ids,
        regimes,
        cash,
        debt,
        idx_c[is_pos].astype(np.int64),
        pos_inst.astype(np.int64),
        net_debit[is_pos].astype(np.float64),
        inst_ids,
        prices,
        conversion,
        account_ids[is_pos],
        sub[is_pos],
        haircut_addon,
    )


def instrument_columns(uow: MarginUnitOfWork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The instrument master column-wise, sorted by id: ids, last prices, conversion rates."""
    return _instrument_columns(uow)


def load_book(uow: MarginUnitOfWork) -> BookState:
    """The open book as of this transaction, in two scans (facilities, balances)."""
    conn = uow.connection
    facs = conn.execute(_OPEN_FACILITIES).all()
    customer_ids = np.array([r[0] for r in facs], dtype=np.int64)
    regimes = np.array([r[1] for r in facs], dtype=object)
    addon = np.array([r[2] for r in facs], dtype=np.float64) / BPS_PER_UNIT
    raw = conn.connection.dbapi_connection  # 1M rows: plain tuples, not SQLAlchemy rows
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(str(_BALANCES))
        pairs = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 2)
    finally:
        cur.close()
    account_ids, net = pairs[:, 0], pairs[:, 1]
    return book_from_balances(
        customer_ids, regimes, account_ids, net, _instrument_columns(uow), addon if addon.any() else None
    )
