"""The steps of one business day of the living book (called by ``pipelines.book.run_day``).

Each step reads the book's state, draws from the day's random stream in a fixed order
(customers sorted by id, so a resumed day draws exactly what the uninterrupted one did) and
acts through the margin desk and the credit books inside the day's transaction.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select, update

from ledger.unit_of_work import run_in_transaction
from margin.chart import Code
from margin.credit_books import (
    CREDIT_EVENT,
    SHORTFALL,
    balances,
    plan_allowance,
    plan_default_mark,
    plan_recovery,
    plan_repayment,
    post_in,
)
from margin.service import MarginDesk
from margin.storage import facilities, margin_calls
from pipelines.book_inputs import CRASH_SENSITIVITY, decide_applications, traits
from pipelines.book_state import book_decisions, book_lines, yyyymmdd
from pricing.floating import initial_rate_bps, reprice, repricing_day
from pricing.provisions import ecl_minor, exposure_at_default_minor, stage_of

CNY = 156
CALL_MEMORY_DAYS = 90  # a margin call within this many days puts the line on the watch list
CURE_SHARE_PER_DAY = 0.05  # of the call-meeting probability: chance to cure a shortfall on a day


@dataclass
class DayContext:
    """One business day's handles: the book, the day's transaction, its desk and random stream.

    The desk is made once per day (its buy checks once per run, ``Book.buy_checks``): a desk
    per operation would re-read the risk-controls policy every time. ``lines`` reads the book's
    line rows once per status set and re-reads only after a line was changed that day."""

    book: Any  # pipelines.book.Book
    conn: Connection
    day_engine: Engine
    day: np.datetime64
    index: int
    rng: np.random.Generator
    counts: Counter[str]
    desk: MarginDesk = field(init=False)
    _cache: dict[tuple[str, ...], list[Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.desk = MarginDesk(self.day_engine, self.book.clock, self.book.buy_checks)

    @property
    def ymd(self) -> int:
        return yyyymmdd(self.day)

    def lines(self, *statuses: str) -> list[Any]:
        if statuses not in self._cache:
            q = select(book_lines).where(book_lines.c.status.in_(statuses)).order_by(book_lines.c.customer_id)
            self._cache[statuses] = list(self.conn.execute(q))
        return self._cache[statuses]

    def set_line(self, customer_id: int, **values: Any) -> None:
        self.conn.execute(update(book_lines).where(book_lines.c.customer_id == customer_id).values(**values))
        self._cache.clear()

    def post(self, transfers: list[Any], customers: list[int]) -> None:
        if transfers:
            now = self.book.clock()
            run_in_transaction(
                self.day_engine, lambda uow: post_in(uow.ledger, transfers, now, customers, CNY)
            )

    def debt(self, customer_id: int) -> tuple[int, int, int]:
        """(cash, loan, accrued interest) of the customer, from the ledger."""
        view = self.desk.margin(customer_id)
        return view.cash_minor, view.loan_minor, view.accrued_interest_minor

    def positions(self, customer_ids: list[int]) -> dict[int, dict[int, int]]:
        """Shares held per instrument for each customer, from one scan of the ledger's balances."""
        from margin.book import load_book
        from margin.repository import run_margin

        state = run_margin(self.day_engine, load_book)
        rows = state.index_of(np.asarray(customer_ids, dtype=np.int64))
        wanted = np.isin(state.pos_account, rows[rows >= 0])
        out: dict[int, dict[int, int]] = {int(c): {} for c in customer_ids}
        for acc, iid, qty in zip(
            state.pos_account[wanted],
            state.pos_instrument_id[wanted],
            state.pos_quantity[wanted],
            strict=True,
        ):
            out[int(state.customer_ids[acc])][int(iid)] = int(qty)
        return out

    def book_state(self, customer_ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cash, debt = loan + interest, market value at the last marks) per customer, minor
        units, in one scan of the ledger (``margin.book.load_book``); zeros for a closed facility."""
        from margin.book import load_book
        from margin.repository import run_margin

        state = run_margin(self.day_engine, load_book)
        ids = np.asarray(customer_ids, dtype=np.int64)
        at = state.index_of(ids)
        value = np.zeros(len(state.customer_ids))
        np.add.at(value, state.pos_account, state.pos_quantity * state.prices[state.pos_instrument])
        found = at >= 0
        out = [np.zeros(len(ids)) for _ in range(3)]
        for col, src in zip(out, (state.cash, state.debt, value), strict=True):
            col[found] = src[at[found]]
        return out[0], out[1], out[2]


def decide_month(ctx: DayContext) -> None:
    """Decide every application dated in this month (the serving path) and queue the approved."""
    book = ctx.book
    apps = book.tables["applications"]
    month = pd.Timestamp(ctx.day).to_period("M")
    mine = apps[apps["application_date"].dt.to_period("M") == month].sort_values("application_id")
    if mine.empty:
        return
    decided = decide_applications(mine, book.tables, book.champions, book.policy, book.instruments)
    behaviour = traits(mine, book.tables, book.prices.instrument_ids()).set_index("application_id")
    for row in decided.itertuples(index=False):
        app_day = yyyymmdd(np.datetime64(row.application_date, "D"))
        record = {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in row._asdict().items()
            if k != "application_date"
        }
        ctx.conn.execute(
            insert(book_decisions).values(
                application_id=int(row.application_id),
                customer_id=int(row.customer_id),
                application_day=app_day,
                outcome=str(row.outcome),
                record=json.dumps(record, default=str, sort_keys=True),
            )
        )
        ctx.counts["decided"] += 1
        if row.outcome != "approve" or int(row.credit_limit_minor) <= 0:
            continue
        t = behaviour.loc[int(row.application_id)]
        ctx.conn.execute(insert(book_lines).values(**_line_row(row, t, app_day)))
        ctx.counts["approved"] += 1


def _line_row(row: Any, t: Any, app_day: int) -> dict[str, Any]:
    return {
        "customer_id": int(row.customer_id),
        "application_id": int(row.application_id),
        "decision_id": f"book-{int(row.application_id)}",
        "application_day": app_day,
        "status": "pending",
        "grade": int(row.grade),
        "pd_12m": float(row.pd_12m),
        "lgd": float(row.lgd),
        "ccf": float(row.ccf),
        "limit_minor": int(row.credit_limit_minor),
        "leverage_bps": min(max(round((1.0 + float(row.max_leverage)) * 10_000), 10_000), 100_000),
        "rate_bps": 0,
        "resets_done": 0,
        "next_reset_day": 0,  # set at opening
        "deposit_minor": int(t.deposit_minor),
        "draw_share": float(t.draw_share),
        "trade_prob": float(t.trade_prob),
        "meet_prob": float(t.meet_prob),
        "basket": json.dumps([int(i) for i in t.basket]),
        "shortfall_since": 0,
        "last_call_day": 0,
        "recovery_day": 0,
        "recovery_minor": 0,
    }


def _register(ctx: DayContext, instrument_ids: list[int]) -> None:
    """Put the basket's names in the instrument master at today's close (first use only)."""
    from margin.storage import instruments

    have = {r.instrument_id for r in ctx.conn.execute(select(instruments.c.instrument_id))}
    prices = ctx.book.prices
    for iid in instrument_ids:
        p = prices.close[ctx.index, iid - 1]
        if iid in have or not np.isfinite(p):
            continue
        ctx.desk.upsert_instrument(
            iid, str(prices.tickers[iid - 1]), "index_constituent", max(round(float(p) * 100), 1)
        )


def open_due(ctx: DayContext) -> None:
    """Open every approved line whose application day has come: line, first deposit, first buys."""
    book = ctx.book
    for line in ctx.lines("pending"):
        if line.application_day > ctx.ymd:
            continue
        rate = int(initial_rate_bps(book.series, book.config.terms, [line.grade], [ctx.day])[0])
        basket = json.loads(line.basket)
        _register(ctx, basket)
        desk = ctx.desk
        desk.open_facility(line.customer_id, line.decision_id, line.limit_minor, rate, line.leverage_bps)
        desk.deposit(line.customer_id, f"open-{line.application_id}", line.deposit_minor)
        nxt = next_reset_ymd(line.application_day, 0, book.config.terms.reprice_every_months)
        ctx.set_line(line.customer_id, status="open", rate_bps=rate, next_reset_day=nxt)
        ctx.counts["opened"] += 1
        # cn initial margin on index constituents (conversion 70 %) caps a first draw near 0.7 × cash
        draw = int(line.draw_share * min(line.limit_minor, 0.7 * line.deposit_minor))
        _buy_basket(ctx, line.customer_id, basket, line.deposit_minor + draw, f"open-{line.application_id}")


def _buy_basket(ctx: DayContext, cid: int, basket: list[int], value_minor: int, op: str) -> None:
    prices = ctx.book.prices.price_minor(ctx.index)
    names = [i for i in basket if i in prices]
    for k, iid in enumerate(names):
        qty = value_minor // len(names) // prices[iid]
        for attempt in range(2):  # refused on margin: try once with half the size
            if qty <= 0:
                break
            result = ctx.desk.buy(cid, f"{op}-{k}-{attempt}", iid, int(qty), prices[iid])
            ctx.counts["buys" if result.ok else "buys_refused"] += 1
            if result.ok:
                break
            qty //= 2


def _sell_all(ctx: DayContext, cid: int, op: str, liquidation: bool) -> None:
    prices = ctx.book.prices.price_minor(ctx.index)
    for iid, qty in sorted(ctx.desk.margin(cid).positions.items()):
        result = ctx.desk.sell(cid, f"{op}-{iid}", iid, qty, prices[iid], liquidation=liquidation)
        assert result.ok, f"selling {qty} of {iid} for {cid} failed: {result.reason}"
        ctx.counts["liquidation_sales" if liquidation else "sells"] += 1


def _settle_from_cash(ctx: DayContext, cid: int, op: str) -> int:
    """Let free cash repay interest, then principal; return the debt left (the shortfall)."""
    cash, loan, accrued = ctx.debt(cid)
    ctx.post(plan_repayment(cid, op, cash, accrued, loan, CNY), [cid])
    return max(loan + accrued - cash, 0)


def _default(ctx: DayContext, line: Any, cause: int) -> None:
    """Mark the default (EAD = debt now), sell what is left, write off, schedule a recovery."""
    cid = line.customer_id
    _cash, loan, accrued = ctx.debt(cid)
    ctx.post([plan_default_mark(cid, loan + accrued, cause, CNY)], [cid])
    _sell_all(ctx, cid, f"default-{ctx.ymd}", liquidation=True)
    loss = int(ctx.desk.write_off(cid, f"writeoff-{ctx.ymd}").details.get("loss_minor", 0))
    ctx.desk.close_call(cid, "defaulted")
    cfg = ctx.book.config
    due = yyyymmdd(ctx.day + np.timedelta64(cfg.recovery_delay_days, "D"))
    ctx.set_line(cid, status="written_off", recovery_day=due, recovery_minor=int(loss * cfg.recovery_share))
    ctx.counts["defaults"] += 1
    ctx.counts["written_off_minor"] += loss


def collections(ctx: DayContext) -> None:
    """Shortfalls in collection: cured by a payment, or defaulted past the cure period."""
    cure_days = ctx.book.config.cure_days
    for line in ctx.lines("collection"):
        u = ctx.rng.random()
        since = np.datetime64(pd.Timestamp(str(line.shortfall_since)).date(), "D")
        if u < line.meet_prob * CURE_SHARE_PER_DAY:
            cash, loan, accrued = ctx.debt(line.customer_id)
            due = loan + accrued - cash
            if due > 0:
                ctx.desk.deposit(line.customer_id, f"cure-{ctx.ymd}", due)
            _settle_from_cash(ctx, line.customer_id, f"cure-{ctx.ymd}")
            ctx.desk.close_call(line.customer_id, "met")
            ctx.set_line(line.customer_id, status="open", shortfall_since=0)
            ctx.counts["cured"] += 1
        elif (ctx.day - since).astype(int) >= cure_days:
            _default(ctx, line, SHORTFALL)


def credit_events(ctx: DayContext) -> None:
    """A customer stops paying: daily hazard = PD / 252, raised after a market fall (one draw
    per open line, in customer order, as one vector)."""
    uplift = float(np.exp(CRASH_SENSITIVITY * ctx.book.prices.market_fall(ctx.index)))
    uplift *= ctx.book.config.credit_event_multiplier
    rows = ctx.lines("open")
    u = ctx.rng.random(len(rows))
    hazard = np.array([r.pd_12m for r in rows], dtype=np.float64) / 252 * uplift
    for k in np.flatnonzero(u < hazard):
        line = rows[k]
        _cash, loan, accrued = ctx.debt(line.customer_id)
        if loan + accrued > 0:
            _default(ctx, line, CREDIT_EVENT)


def trade(ctx: DayContext) -> None:
    """About 1 % of accounts trade on a day: sell part of a holding, or buy a basket name.
    The draws are one (lines × 3) block in customer order; only the traders touch the desk."""
    prices = ctx.book.prices.price_minor(ctx.index)
    rows = ctx.lines("open")
    draws = ctx.rng.random((len(rows), 3))
    trade_prob = np.array([r.trade_prob for r in rows], dtype=np.float64)
    traders = np.flatnonzero(draws[:, 0] < trade_prob)
    sellers = [rows[k].customer_id for k in traders if draws[k, 1] < 0.5]
    holdings = ctx.positions(sellers) if sellers else {}  # one scan, not a margin view per seller
    for k in traders:
        line, side, size = rows[k], draws[k, 1], 0.2 + 0.8 * draws[k, 2]
        cid = line.customer_id
        held = holdings.get(cid, {}) if side < 0.5 else {}
        if held:
            iid = sorted(held)[int(size * 10) % len(held)]
            qty = max(int(held[iid] * size), 1)
            ok = ctx.desk.sell(cid, f"t{ctx.ymd}", iid, qty, prices[iid]).ok
            ctx.counts["sells" if ok else "sells_refused"] += 1
        else:
            basket = [i for i in json.loads(line.basket) if i in prices]
            iid = basket[int(size * 10) % len(basket)]
            qty = int(0.3 * size * line.deposit_minor // prices[iid])
            if qty > 0:
                ok = ctx.desk.buy(cid, f"t{ctx.ymd}", iid, qty, prices[iid]).ok
                ctx.counts["buys" if ok else "buys_refused"] += 1


def mark_and_call(ctx: DayContext) -> None:
    """Mark at today's closes; called customers top up or not; overdue calls are liquidated.

    One ``BookMarker`` per run (``Book.marker``): the book stays in memory between days and is
    advanced by the day's ledger transfers (``margin.live_book``) instead of reloaded. A day
    that fails stops the run, and a resumed run starts with a fresh load, so the in-memory
    book never outlives a rolled-back day."""
    from margin.marking import BookMarker, as_result
    from margin.storage import instruments

    registered = {r.instrument_id for r in ctx.conn.execute(select(instruments.c.instrument_id))}
    prices = {i: p for i, p in ctx.book.prices.price_minor(ctx.index).items() if i in registered}
    if not prices:
        return
    if ctx.book.marker is None:
        ctx.book.marker = BookMarker(ctx.day_engine)
    ctx.book.marker.engine = ctx.day_engine  # this day's transaction
    result = as_result(ctx.book.marker.tick(prices, ctx.book.clock()))
    lines = {r.customer_id: r for r in ctx.lines("open")}
    ctx.counts["calls_issued"] += sum(c in lines for c in result.calls_issued)
    ctx.counts["calls_met"] += len(result.calls_met)
    for cid in result.calls_issued:
        if cid not in lines:
            continue
        ctx.set_line(cid, last_call_day=ctx.ymd)
        if ctx.rng.random() < lines[cid].meet_prob:
            required = ctx.conn.execute(
                select(margin_calls.c.required_minor).where(
                    (margin_calls.c.customer_id == cid) & (margin_calls.c.status == "open")
                )
            ).scalar_one()
            if required > 0:
                ctx.desk.deposit(cid, f"topup-{ctx.ymd}", int(required))
                ctx.counts["topups"] += 1
    for cid in result.to_liquidate:
        if cid in lines:
            _liquidate(ctx, cid)


def _liquidate(ctx: DayContext, cid: int) -> None:
    _sell_all(ctx, cid, f"liq-{ctx.ymd}", liquidation=True)
    ctx.desk.close_call(cid, "liquidated")
    ctx.counts["liquidations"] += 1
    if _settle_from_cash(ctx, cid, f"liq-{ctx.ymd}") > 0:
        ctx.set_line(cid, status="collection", shortfall_since=ctx.ymd)
        ctx.counts["shortfalls"] += 1


def recoveries(ctx: DayContext) -> None:
    for line in ctx.lines("written_off"):
        if line.recovery_minor > 0 and line.recovery_day <= ctx.ymd:
            ctx.post(
                [plan_recovery(line.customer_id, "collection", int(line.recovery_minor), CNY)],
                [line.customer_id],
            )
            ctx.set_line(line.customer_id, recovery_minor=0)
            ctx.counts["recovered_minor"] += int(line.recovery_minor)


def next_reset_ymd(application_day: int, resets_done: int, every_months: int) -> int:
    """The line's next repricing day (yyyymmdd): reset k = resets_done + 1 after opening."""
    opened = np.datetime64(pd.Timestamp(str(application_day)).date(), "D")
    return yyyymmdd(repricing_day([opened], resets_done + 1, every_months)[0])


def accrue(ctx: DayContext, prev: np.datetime64) -> None:
    """Every calendar day since the last business day: reprice the lines due (each line keeps
    its next reset day, so only those are touched), then accrue the whole book."""
    book = ctx.book
    terms = book.config.terms
    day = prev + 1
    while day <= ctx.day:
        ymd = yyyymmdd(day)
        rows = ctx.lines("open", "collection")
        due = np.flatnonzero(np.array([r.next_reset_day for r in rows], dtype=np.int64) <= ymd)
        for line in [rows[k] for k in due]:
            reset = np.datetime64(pd.Timestamp(str(line.next_reset_day)).date(), "D")
            target = int(book.series.rate_in_force([reset])[0]) + int(terms.spread_bps([line.grade])[0])
            rate = int(reprice([line.rate_bps], [target], terms)[0])
            done = line.resets_done + 1
            nxt = next_reset_ymd(line.application_day, done, terms.reprice_every_months)
            ctx.set_line(line.customer_id, rate_bps=rate, resets_done=done, next_reset_day=nxt)
            ctx.conn.execute(
                update(facilities)
                .where(facilities.c.customer_id == line.customer_id)
                .values(annual_rate_bps=rate)
            )
            ctx.counts["repriced"] += 1
        ctx.desk.accrue_interest(pd.Timestamp(day).date())
        day = day + 1


def provision(ctx: DayContext, pd_now_by_customer: dict[int, float]) -> None:
    """Month end: stage every line, move each allowance to its ECL (released when written off).

    PD now = the month's behavioural re-score (``pipelines.book_review``); a margin call in
    the last 90 days puts the line on the watch list (stage 2)."""
    rows = ctx.lines("open", "collection", "written_off")
    if not rows:
        return
    cids = [r.customer_id for r in rows]
    drawn = np.rint(ctx.book_state(cids)[1]).astype(np.int64)
    watch = np.array(
        [bool(r.last_call_day) and _days_between(r.last_call_day, ctx.ymd) <= CALL_MEMORY_DAYS for r in rows]
    )
    pd_orig = np.array([r.pd_12m for r in rows])
    pd_now = np.array([pd_now_by_customer.get(r.customer_id, r.pd_12m) for r in rows])
    dpd = np.array(
        [_days_between(r.shortfall_since, ctx.ymd) if r.status == "collection" else 0 for r in rows]
    )
    written = np.array([r.status == "written_off" for r in rows])
    stage = stage_of(pd_now, pd_orig, dpd, written, watch, rules=ctx.book.config.staging)
    ead = exposure_at_default_minor(drawn, [r.limit_minor for r in rows], [r.ccf for r in rows])
    eir = np.array([r.rate_bps / 10_000 for r in rows])
    ecl = ecl_minor(stage, pd_now, [r.lgd for r in rows], ead, eir, ctx.book.config.staging)
    target = np.where(written, 0, ecl)
    current = run_in_transaction(ctx.day_engine, lambda uow: balances(uow.ledger, cids, Code.LOAN_ALLOWANCE))
    ctx.post(plan_allowance(cids, target.tolist(), [current[c] for c in cids], CNY, ctx.ymd), cids)
    for s in (1, 2, 3):
        live = (stage == s) & ~written
        ctx.counts[f"stage{s}_lines"] = int(live.sum())
        ctx.counts[f"stage{s}_ead_minor"] = int(ead[live].sum())
        ctx.counts[f"stage{s}_ecl_minor"] = int(ecl[live].sum())


def _days_between(a: int, b: int) -> int:
    return int((pd.Timestamp(str(b)) - pd.Timestamp(str(a))).days)


__all__ = [
    "DayContext",
    "accrue",
    "collections",
    "credit_events",
    "decide_month",
    "mark_and_call",
    "open_due",
    "provision",
    "recoveries",
    "trade",
]
