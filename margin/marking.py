"""Marking the whole book through the engine: one vectorised evaluation per regime per tick.

The one code path for the CLI (``ledger mark``), the API (``POST /v1/prices``), the stress
replay and the book simulation. A tick:

1. takes the book column-wise (``margin.book.BookState``: cash, debt, positions per
   facility), either freshly loaded or kept in memory and advanced by the ledger
   transfers committed since the last tick;
2. calls ``engine.evaluate`` and ``engine.step_calls`` once per regime over all its
   facilities (no Python loop over accounts);
3. writes only what changed — calls issued, calls met — in chunks of at most
   ``MAX_FACILITIES_PER_MARK_CHUNK`` rows, and returns the accounts to liquidate.

Call deadlines are exchange trading days (``engine.call_deadline``: XSHG for cn, XNYS for
us): a call issued on a Friday is due on the second following session, across weekends and
holiday weeks. Days are stored as day numbers since the epoch of the business day in the
exchange's time zone. A call handed to liquidation stays open until the liquidation closes
it (``MarginDesk.close_call``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import Engine

from creditdesk.business_time import business_day
from creditdesk.errors import InputError
from ledger.domain import MAX_INT64
from margin.book import BookState
from margin.domain import BPS_PER_UNIT, NS_PER_DAY, MarkResult, instrument_checked, positive
from margin.engine import STATUS_NAMES, CallState, Status, call_deadline, evaluate, regime, step_calls
from margin.live_book import LiveBook
from margin.repository import MarginUnitOfWork, run_margin

EPOCH = dt.date(1970, 1, 1).toordinal()


def calendar_day(now_ns: int) -> int:
    """Days since the epoch: the default clock of call deadlines."""
    return now_ns // NS_PER_DAY


@dataclass(frozen=True)
class TickOutcome:
    """What one tick decided, column-wise over the book's facilities."""

    customer_ids: np.ndarray
    status: np.ndarray  # Status codes
    ratio: np.ndarray
    topup_minor: np.ndarray
    issued: np.ndarray  # bool
    met: np.ndarray
    liquidate: np.ndarray
    deadline_day: np.ndarray


def check_prices(prices_minor: dict[int, int], known: set[int]) -> None:
    for iid, p in prices_minor.items():
        instrument_checked(iid)
        positive(p, "price_minor")
    unknown = sorted(set(prices_minor) - known)
    if unknown:
        raise InputError(f"instrument {unknown[0]} is not registered", field="instrument_id")


def evaluate_tick(
    book: BookState,
    open_calls: dict[int, int],
    day: int,
    call_days: int | None = None,
    now_ns: int | None = None,
) -> TickOutcome:
    """Pure: evaluate every facility of ``book`` and step its calls.

    ``open_calls`` maps a customer with an open call to the call's deadline day (days since
    the epoch). ``day`` is today's day number; with ``now_ns`` each regime takes the business
    day in its own exchange's time zone instead. New deadlines are trading days.
    """
    n = len(book.customer_ids)
    status = np.zeros(n, dtype=np.int8)
    ratio = np.full(n, np.inf)
    topup = np.zeros(n)
    calls_open = np.zeros(n, dtype=bool)
    deadline = np.full(n, -1, dtype=np.int64)
    if open_calls:
        idx = book.index_of(np.fromiter(open_calls, dtype=np.int64))
        found = idx >= 0
        calls_open[idx[found]] = True
        deadline[idx[found]] = np.fromiter(open_calls.values(), dtype=np.int64)[found]
    issued, met, liquidate = (np.zeros(n, dtype=bool) for _ in range(3))
    for name, rows in book.regime_rows().items():
        reg = regime(name)
        if call_days is not None:
            reg = replace(reg, call_days=call_days)
        ev = evaluate(book.sub_book(rows), book.prices, book.conversion, reg)
        today = np.datetime64(
            day if now_ns is None else business_day(now_ns, reg.name).toordinal() - EPOCH, "D"
        )
        dated = np.where(deadline[rows] >= 0, deadline[rows], np.iinfo(np.int64).min).astype("datetime64[D]")
        _, events = step_calls(CallState(calls_open[rows], dated), ev, today, reg)
        status[rows], ratio[rows], topup[rows] = ev.status, ev.ratio, ev.topup_minor
        issued[rows], met[rows], liquidate[rows] = events.issued, events.met, events.liquidate
        if events.issued.any():
            due = call_deadline(reg, np.full(len(rows), today)).astype(np.int64)
            deadline[rows] = np.where(events.issued, due, deadline[rows])
    return TickOutcome(book.customer_ids, status, ratio, topup, issued, met, liquidate, deadline)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective mix of 64-bit integers (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def call_ids_for(customer_ids: np.ndarray, now_ns: int) -> np.ndarray:
    """Call ids derived from (customer, tick time), vectorised: a retried tick names the same calls.

    63-bit positive like the ledger's ids; collisions are as unlikely as between transfer ids
    (a collision is loud: the insert fails on the primary key and the tick is retried whole).
    """
    tick = _splitmix64(np.array([now_ns % 2**64], dtype=np.uint64))[0]
    mixed = _splitmix64(customer_ids.astype(np.uint64) ^ tick) & np.uint64(2**63 - 1)
    return np.maximum(mixed, np.uint64(1)).astype(np.int64)


def write_tick(
    uow: MarginUnitOfWork, outcome: TickOutcome, open_call_ids: dict[int, int], now_ns: int
) -> None:
    """Only what changed: new calls inserted, met calls closed (bounded chunks in the repository)."""
    at = np.flatnonzero(outcome.issued)
    customers = outcome.customer_ids[at].tolist()
    deadlines = (outcome.deadline_day[at] * NS_PER_DAY).tolist()
    ratios = np.minimum(outcome.ratio[at] * BPS_PER_UNIT, float(MAX_INT64)).astype(np.int64).tolist()
    required = np.ceil(outcome.topup_minor[at]).astype(np.int64).tolist()
    call_ids = call_ids_for(outcome.customer_ids[at], now_ns).tolist()
    n = len(customers)
    rows = list(
        zip(
            call_ids, customers, ["open"] * n, [now_ns] * n, deadlines, ratios, required, [0] * n, strict=True
        )
    )
    uow.margin.add_calls(rows)
    met_ids = [open_call_ids[int(c)] for c in outcome.customer_ids[outcome.met]]
    uow.margin.close_calls(met_ids, "met", now_ns)


def mark_in(
    uow: MarginUnitOfWork,
    book: BookState,
    prices_minor: dict[int, int],
    now_ns: int,
    call_days: int | None = None,
) -> TickOutcome:
    """One tick inside ``uow`` on an up-to-date ``book``: new prices stored, calls stepped and written."""
    check_prices(prices_minor, set(book.instrument_ids.tolist()))
    uow.margin.set_prices(prices_minor, now_ns)
    book.set_prices(prices_minor)
    calls = uow.margin.open_calls()
    day = calendar_day(now_ns)
    deadlines = {cid: calendar_deadline(r.deadline_ns) for cid, r in calls.items()}
    outcome = evaluate_tick(book, deadlines, day, call_days, now_ns)
    write_tick(uow, outcome, {cid: r.call_id for cid, r in calls.items()}, now_ns)
    return outcome


def calendar_deadline(deadline_ns: int) -> int:
    return deadline_ns // NS_PER_DAY


def as_result(outcome: TickOutcome) -> MarkResult:
    ids = outcome.customer_ids
    return MarkResult(
        len(ids),
        dict(zip(ids.tolist(), STATUS_NAMES[outcome.status].tolist(), strict=True)),
        ids[outcome.issued].tolist(),
        ids[outcome.met].tolist(),
        ids[outcome.liquidate].tolist(),
    )


class BookMarker:
    """The marking process over one database: the book in memory (``LiveBook``), one tick a call.

    The first tick loads the book; later ticks advance it by the transfers committed since.
    A tick is one transaction; a retry of it (write conflict) sees the book already advanced
    and applies nothing twice.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.live = LiveBook()

    def tick(self, prices_minor: dict[int, int], now_ns: int, call_days: int | None = None) -> TickOutcome:
        def work(uow: MarginUnitOfWork) -> TickOutcome:
            return mark_in(uow, self.live.current(uow), prices_minor, now_ns, call_days)

        return run_margin(self.engine, work)


def mark_book(
    engine: Engine, prices_minor: dict[int, int], now_ns: int, call_days: int | None = None
) -> MarkResult:
    """One-shot: load the open book column-wise, mark it at ``prices_minor``, write what changed."""
    return as_result(BookMarker(engine).tick(prices_minor, now_ns, call_days))


__all__ = ["BookMarker", "Status", "TickOutcome", "as_result", "evaluate_tick", "mark_book", "mark_in"]
