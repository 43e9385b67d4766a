"""The grade tier's haircut add-on on book-wide marking (issue 13, instrument master).

The add-on is stored on the facility at opening (``margin.opening``) and lowers every
conversion rate of that account (``engine.Book.position_conversion``). The single-customer
path (``margin.customer``) applied it; the book path (``margin.book`` → ``margin.marking``)
must value the same account's collateral the same way, for the whole book and for one
regime's rows of it.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine

from margin.book import load_book
from margin.engine import evaluate, regime
from margin.marking import BookMarker
from margin.repository import MarginUnitOfWork
from margin.service import MarginDesk

ADDON_BPS = {1: 2_000, 2: 0, 3: 1_500}  # customer → the grade tier's add-on, basis points
REGIME = {1: "cn", 2: "cn", 3: "us"}


def _book(engine: Engine) -> MarginDesk:
    desk = MarginDesk(engine, clock=iter(range(10**18, 10**18 + 10**6)).__next__)
    desk.upsert_instrument(1, "AAA", "share", 10_000, board="main", static_pe=20.0, index_constituent=True)
    for cid, addon in ADDON_BPS.items():
        desk.open_facility(cid, f"d-{cid}", 5_000_000, 800, regime_name=REGIME[cid], haircut_addon_bps=addon)
        assert desk.deposit(cid, f"dep-{cid}", 1_000_000).ok
        assert desk.buy(cid, f"buy-{cid}", 1, 150, 10_000).ok  # ¥15,000 of AAA, ¥5,000 of it on loan
    return desk


def test_book_marking_values_collateral_with_the_facilitys_addon(engine: Engine) -> None:
    desk = _book(engine)
    single = {cid: desk.margin(cid).collateral_value_minor for cid in ADDON_BPS}
    rate = desk.margin(2).collateral_value_minor / 1_500_000  # AAA's rate, no add-on
    # rule: conversion rate less the account's add-on (20 points for customer 1, 15 for 3)
    assert single[1] == round(1_500_000 * (rate - 0.20))
    assert single[3] == round(1_500_000 * (rate - 0.15))
    with MarginUnitOfWork(engine) as uow:
        state = load_book(uow)
    for name, rows in state.regime_rows().items():
        ev = evaluate(state.sub_book(rows), state.prices, state.conversion, regime(name))
        for row, value in zip(rows.tolist(), ev.collateral_value.tolist(), strict=True):
            assert round(value) == single[int(state.customer_ids[row])]
    # the marking process's live book (advanced between ticks) carries the add-on too
    marker = BookMarker(engine)
    marker.tick({1: 10_000}, 2 * 10**18)
    live = marker.live.state
    assert live is not None
    whole = evaluate(live.sub_book(np.arange(3)), live.prices, live.conversion, regime("cn"))
    assert [round(v) for v in whole.collateral_value] == [single[c] for c in live.customer_ids.tolist()]
