"""The book kept in memory between ticks, advanced by the ledger transfers committed since.

Reloading 1M position rows costs ~650 ms on SQLite (DESIGN, "Marking a book at scale"), more
than a whole tick may take. So the marking process loads the book once and then, each tick,
reads only the transfers stamped after the last one it applied: ledger timestamps increase
strictly across commits and the tick holds the ledger clock while it reads
(``SqlLedgerRepository.hold_clock``), so "since" is exact — nothing is applied twice or missed.

A transfer moves the column it names: cash (credit balance), loan and accrued interest
(debt), or a position's quantity; a first buy of a name appends a position row. A transfer
of a customer the book does not hold (a facility opened since), a write-off (the facility
leaves the book) or more than ``MAX_TRANSFERS_PER_ADVANCE`` transfers at once make the next
tick reload the book in full instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from margin.book import CODE_SCALE, OWNER_SCALE, BookState, instrument_columns, load_book, lookup
from margin.chart import Code, TransferCode
from margin.repository import MarginUnitOfWork

MAX_TRANSFERS_PER_ADVANCE = 1_000_000  # more than this since the last tick: reload instead
RELOAD_CODES = (int(TransferCode.LINE_GRANT), int(TransferCode.WRITE_OFF))


@dataclass
class LiveBook:
    """One process's copy of the open book and the ledger timestamp it is current to."""

    state: BookState | None = None
    as_of_ns: int = 0
    reloads: int = 0
    transfers_applied: int = 0
    _pos_sorted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _pos_order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def current(self, uow: MarginUnitOfWork) -> BookState:
        """The book as of this transaction: loaded once, then advanced by the new transfers."""
        upto = uow.ledger.hold_clock()
        if self.state is None or not self._advance(uow, upto):
            self.state = load_book(uow)
            self.reloads += 1
            self._index_positions()
        self.as_of_ns = upto
        self._refresh_instruments(uow)
        return self.state

    def _index_positions(self) -> None:
        assert self.state is not None
        self._pos_order = np.argsort(self.state.pos_account_id, kind="stable")
        self._pos_sorted = self.state.pos_account_id[self._pos_order]

    def _advance(self, uow: MarginUnitOfWork, upto: int) -> bool:
        """Apply the transfers stamped in (as_of, upto]; False when the book must be reloaded."""
        if upto == self.as_of_ns:
            return True
        moves = uow.ledger.transfers_between(self.as_of_ns, upto, MAX_TRANSFERS_PER_ADVANCE)
        if len(moves) >= MAX_TRANSFERS_PER_ADVANCE:
            return False
        cols = np.array(moves, dtype=np.int64).reshape(-1, 4)
        if np.isin(cols[:, 3], RELOAD_CODES).any():
            return False
        ids = np.concatenate([cols[:, 0], cols[:, 1]])
        delta = np.concatenate([cols[:, 2], -cols[:, 2]])  # change of each account's net debit
        if not self._apply(ids, delta):
            return False
        self.transfers_applied += len(moves)
        return True

    def _apply(self, account_ids: np.ndarray, net_debit_delta: np.ndarray) -> bool:
        state = self.state
        assert state is not None
        owner = account_ids // OWNER_SCALE
        code = (account_ids // CODE_SCALE) % 100
        customer = owner > 0
        row = lookup(state.customer_ids, owner)
        if (customer & (row < 0) & (code == Code.CUSTOMER_CASH)).any():
            return False  # money moved for a customer the book does not hold: a new facility
        mine = row >= 0
        is_cash = mine & (code == Code.CUSTOMER_CASH)
        np.add.at(state.cash, row[is_cash], -net_debit_delta[is_cash].astype(np.float64))
        is_debt = mine & ((code == Code.MARGIN_LOAN) | (code == Code.ACCRUED_INTEREST))
        np.add.at(state.debt, row[is_debt], net_debit_delta[is_debt].astype(np.float64))
        is_pos = mine & (code == Code.SECURITIES)
        if is_pos.any():
            self._apply_positions(account_ids[is_pos], row[is_pos], net_debit_delta[is_pos])
        return True

    def _apply_positions(self, account_ids: np.ndarray, rows: np.ndarray, delta: np.ndarray) -> None:
        state = self.state
        assert state is not None
        new_ids = np.unique(account_ids[lookup(self._pos_sorted, account_ids) < 0])
        if len(new_ids):
            new_rows = _rows_for(account_ids, rows, new_ids)
            state.pos_account = np.concatenate([state.pos_account, new_rows])
            state.pos_account_id = np.concatenate([state.pos_account_id, new_ids])
            state.pos_instrument_id = np.concatenate([state.pos_instrument_id, new_ids % CODE_SCALE])
            state.pos_instrument = np.concatenate(
                [state.pos_instrument, np.zeros(len(new_ids), dtype=np.int64)]
            )
            state.pos_quantity = np.concatenate([state.pos_quantity, np.zeros(len(new_ids))])
            self._index_positions()
            state.extra["instruments_stale"] = True
        at = self._pos_order[lookup(self._pos_sorted, account_ids)]
        np.add.at(state.pos_quantity, at, delta.astype(np.float64))

    def _refresh_instruments(self, uow: MarginUnitOfWork) -> None:
        """Last prices and conversion rates from the master; re-index positions if names were added."""
        state = self.state
        assert state is not None
        ids, prices, conversion = instrument_columns(uow)
        same = np.array_equal(ids, state.instrument_ids)
        state.instrument_ids, state.prices, state.conversion = ids, prices, conversion
        if not same or state.extra.pop("instruments_stale", False):
            state.pos_instrument = lookup(ids, state.pos_instrument_id)
            if (state.pos_instrument < 0).any():
                raise AssertionError("a position names an instrument missing from the master")


def _rows_for(account_ids: np.ndarray, rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The book row of the first occurrence of each of ``wanted`` in ``account_ids``."""
    order = np.argsort(account_ids, kind="stable")
    at = np.searchsorted(account_ids[order], wanted)
    return rows[order[at]]
