"""Every rule a margin ``Book`` and ``evaluate`` enforce, each refused with its own field and reason.

Written to kill the mutants `make mutation` found alive in margin/engine.py: each bad input
is refused with exactly its message, and the edge that is still allowed is accepted.
"""

from __future__ import annotations

import numpy as np
import pytest

from creditdesk.errors import InputError
from margin.engine import (
    CN,
    US,
    Book,
    Evaluation,
    Status,
    available_margin,
    evaluate,
    initial_margin_ok,
    no_calls,
    regime,
    step_calls,
)

ROW = "must be one finite value ≥ 0 per row"
NO_SHORTS = "quantities must not be negative (no short positions)"
PER_INSTRUMENT = "prices and conversion rates must be one value per instrument"


def _book(**overrides: object) -> Book:
    fields: dict[str, object] = {
        "cash": np.array([100.0, 0.0]),
        "debt": np.array([0.0, 50.0]),
        "pos_account": np.array([0, 1]),
        "pos_instrument": np.array([0, 2]),
        "pos_quantity": np.array([0.0, 3.0]),
        "pos_financed_minor": np.array([0.0, 10.0]),
        "interest_fees_minor": np.array([0.0, 1.0]),
        "haircut_addon": np.array([0.0, 0.99]),
    }
    fields.update(overrides)
    return Book(**fields)  # type: ignore[arg-type]


def test_a_valid_book_at_every_edge_is_accepted() -> None:
    # index n-1 and instrument n_instruments-1, zero quantity, add-on just below 1: all allowed
    _book().validate(n_instruments=3)
    _book(pos_financed_minor=None, interest_fees_minor=None, haircut_addon=None).validate(3)
    Book(np.zeros(1), np.zeros(1), np.array([], int), np.array([], int), np.array([])).validate(0)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"debt": np.array([0.0])}, "debt", "debt must have one entry per account"),
        ({"pos_instrument": np.array([0])}, "positions", "position arrays must have the same length"),
        ({"pos_quantity": np.array([1.0])}, "positions", "position arrays must have the same length"),
        ({"pos_account": np.array([0, 2])}, "positions", "position account index out of range"),
        ({"pos_account": np.array([-1, 1])}, "positions", "position account index out of range"),
        ({"pos_instrument": np.array([0, 3])}, "positions", "position instrument index out of range"),
        ({"pos_instrument": np.array([-1, 2])}, "positions", "position instrument index out of range"),
        ({"pos_quantity": np.array([-1.0, 3.0])}, "positions", NO_SHORTS),
        ({"debt": np.array([0.0, -1.0])}, "debt", "debt must be ≥ 0 and cash finite"),
        ({"cash": np.array([np.inf, 0.0])}, "debt", "debt must be ≥ 0 and cash finite"),
        ({"pos_financed_minor": np.array([0.0])}, "pos_financed_minor", f"pos_financed_minor {ROW}"),
        ({"pos_financed_minor": np.array([0.0, -1.0])}, "pos_financed_minor", f"pos_financed_minor {ROW}"),
        ({"pos_financed_minor": np.array([0.0, np.nan])}, "pos_financed_minor", f"pos_financed_minor {ROW}"),
        ({"interest_fees_minor": np.ones(3)}, "interest_fees_minor", f"interest_fees_minor {ROW}"),
        ({"interest_fees_minor": np.array([-0.5, 0.0])}, "interest_fees_minor", f"interest_fees_minor {ROW}"),
        ({"haircut_addon": np.array([np.inf, 0.0])}, "haircut_addon", f"haircut_addon {ROW}"),
        ({"haircut_addon": np.array([0.0, -0.1])}, "haircut_addon", f"haircut_addon {ROW}"),
        ({"haircut_addon": np.array([0.0, 1.0])}, "haircut_addon", "haircut_addon must be below 1"),
    ],
)  # fmt: skip
def test_each_bad_book_is_refused_with_its_field_and_reason(
    overrides: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InputError) as refused:
        _book(**overrides).validate(n_instruments=3)
    assert str(refused.value) == message and refused.value.field == field


def test_positions_read_their_financed_amount_and_add_on() -> None:
    book = _book()
    np.testing.assert_array_equal(book.financed(), [0.0, 10.0])
    np.testing.assert_array_equal(_book(pos_financed_minor=None).financed(), [0.0, 0.0])
    rates = np.array([0.7, 0.5, 0.6])
    np.testing.assert_allclose(book.position_conversion(rates), [0.7, 0.0])  # 0.6 - 0.99 floored at 0
    np.testing.assert_allclose(
        _book(haircut_addon=np.array([0.1, 0.2])).position_conversion(rates), [0.6, 0.4]
    )
    np.testing.assert_allclose(_book(haircut_addon=None).position_conversion(rates), [0.7, 0.6])


@pytest.mark.parametrize(
    "prices, conversion, message",
    [
        (np.array([[1.0]]), np.array([[0.5]]), PER_INSTRUMENT),
        (np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5]), PER_INSTRUMENT),
        (np.array([1.0, np.nan, 3.0]), np.array([0.5, 0.5, 0.5]), "prices must be finite and ≥ 0"),
        (np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, 0.5]), "prices must be finite and ≥ 0"),
    ],
)  # fmt: skip
def test_evaluate_refuses_bad_prices(prices: np.ndarray, conversion: np.ndarray, message: str) -> None:
    with pytest.raises(InputError) as refused:
        evaluate(_book(), prices, conversion, CN)
    assert str(refused.value) == message and refused.value.field == "prices"


def test_a_zero_price_is_a_valid_mark() -> None:
    out = evaluate(_book(), np.array([1.0, 1.0, 0.0]), np.array([0.5, 0.5, 0.5]), CN)
    assert out.market_value[1] == 0.0


def _ev(ratio: list[float], status: list[int], call_level: float = 1.3) -> Evaluation:
    n = len(ratio)
    zeros = np.zeros(n)
    return Evaluation(
        zeros, zeros, zeros, np.array(ratio), np.full(n, call_level), np.array(status, np.int8), zeros, zeros
    )


def test_no_calls_is_empty_in_both_clocks() -> None:
    by_index = no_calls(3)
    assert by_index.open.dtype == bool and not by_index.open.any() and by_index.open.shape == (3,)
    assert by_index.deadline_day.dtype == np.int64 and (by_index.deadline_day == -1).all()
    dated = no_calls(2, dated=True)
    assert not dated.open.any() and dated.open.shape == (2,)
    assert dated.deadline_day.dtype == np.dtype("datetime64[D]") and np.isnat(dated.deadline_day).all()


def test_the_call_lifecycle_issue_meet_deadline_and_floor() -> None:
    call, liq, ok = int(Status.CALL), int(Status.LIQUIDATE), int(Status.OK)
    state = no_calls(4)
    # day 10: accounts 0-2 fall below the call line; account 3 is below the floor
    state, ev = step_calls(state, _ev([1.2, 1.2, 1.2, 1.0], [call, call, call, liq]), 10, CN)
    assert ev.issued.tolist() == [True, True, True, True] and ev.liquidate.tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert state.open.tolist() == [True, True, True, False] and state.deadline_day.tolist() == [
        12,
        12,
        12,
        -1,
    ]
    # day 11: 0 is back exactly at the 150 % target (met), 1 just below it, 2 unchanged
    state, ev = step_calls(state, _ev([1.5, 1.4999, 1.2, 2.0], [ok, 1, call, ok]), 11, CN)
    assert ev.met.tolist() == [True, False, False, False] and not ev.issued.any() and not ev.liquidate.any()
    assert state.open.tolist() == [False, True, True, False] and state.deadline_day.tolist() == [
        -1,
        12,
        12,
        -1,
    ]
    # day 12 = the deadline: the unmet calls go to liquidation and close
    state, ev = step_calls(state, _ev([2.0, 1.4, 1.2, 2.0], [ok, 1, call, ok]), 12, CN)
    assert ev.liquidate.tolist() == [False, True, True, False] and not state.open.any()
    assert (state.deadline_day == -1).all()


def test_dated_calls_fall_due_on_the_second_following_session() -> None:
    call = int(Status.CALL)
    friday = np.datetime64("2024-03-01")
    state, ev = step_calls(no_calls(1, dated=True), _ev([1.2], [call]), friday, CN)
    assert ev.issued.tolist() == [True] and state.deadline_day[0] == np.datetime64("2024-03-05")
    state, ev = step_calls(state, _ev([1.2], [call]), np.datetime64("2024-03-04"), CN)
    assert state.open.tolist() == [True] and not ev.liquidate.any()
    state, ev = step_calls(state, _ev([1.2], [call]), np.datetime64("2024-03-05"), CN)
    assert ev.liquidate.tolist() == [True] and np.isnat(state.deadline_day).all()


def test_regime_lookup_names_the_choices() -> None:
    assert regime("cn") is CN and regime("us") is US
    with pytest.raises(InputError) as refused:
        regime("eu")
    assert (
        str(refused.value) == "regime must be one of ['cn', 'us'], got 'eu'"
        and refused.value.field == "regime"
    )


def test_cn_evaluation_by_hand() -> None:
    # one account: cash 100, 10 shares at 20 (MV 200), debt 200 -> ratio (100 + 200) / 200 = 1.5
    book = Book(
        np.array([100.0, 50.0]),
        np.array([200.0, 0.0]),
        np.array([0, 1]),
        np.array([0, 0]),
        np.array([10.0, 1.0]),
    )
    out = evaluate(book, np.array([20.0]), np.array([0.5]), CN)
    np.testing.assert_allclose(out.market_value, [200.0, 20.0])
    np.testing.assert_allclose(out.collateral_value, [100.0, 10.0])
    np.testing.assert_allclose(out.equity, [100.0, 70.0])
    assert out.ratio[0] == pytest.approx(1.5) and np.isinf(out.ratio[1])
    assert out.status.tolist() == [Status.OK, Status.OK]  # exactly at the warning line: not a warning
    np.testing.assert_allclose(out.topup_minor, [0.0, 0.0])
    np.testing.assert_allclose(
        out.withdrawable_minor, [0.0, 50.0]
    )  # withdrawal needs 300 %; no debt: all cash
    lower = evaluate(book, np.array([17.0]), np.array([0.5]), CN)  # (100 + 170) / 200 = 1.35: warning
    assert lower.status[0] == Status.WARNING and lower.topup_minor[0] == pytest.approx(1.5 * 200 - 270)
    call = evaluate(book, np.array([15.0]), np.array([0.5]), CN)  # 1.25: call
    floor = evaluate(book, np.array([11.0]), np.array([0.5]), CN)  # 1.05: below the 110 % floor
    assert call.status[0] == Status.CALL and floor.status[0] == Status.LIQUIDATE
    rich = evaluate(
        book, np.array([60.0]), np.array([0.5]), CN
    )  # (100 + 600) - 3 x 200 = 100, cash caps at 100
    assert rich.withdrawable_minor[0] == pytest.approx(100.0)


def test_us_evaluation_by_hand_with_the_concentration_add_on() -> None:
    # two names 60/40 (not concentrated: top weight 0.6 is not above 0.6) vs one name (concentrated)
    book = Book(
        np.array([0.0, 0.0]),
        np.array([710.0, 710.0]),
        np.array([0, 0, 1]),
        np.array([0, 1, 0]),
        np.array([6.0, 4.0, 10.0]),
    )
    out = evaluate(book, np.array([100.0, 100.0]), np.array([0.5, 0.5]), US)
    np.testing.assert_allclose(out.equity, [290.0, 290.0])
    np.testing.assert_allclose(out.ratio, [0.29, 0.29])
    np.testing.assert_allclose(out.call_level, [0.25, 0.30])
    assert out.status.tolist() == [Status.WARNING, Status.CALL]  # the add-on moves the call line
    np.testing.assert_allclose(out.topup_minor, [10.0, 10.0])  # back to 30 % of the 1,000 held
    np.testing.assert_allclose(out.withdrawable_minor, [0.0, 0.0])
    # with cash: excess equity above 50 % of MV may leave, capped by the cash
    rich = Book(
        np.array([500.0]), np.array([100.0]), np.array([0, 0]), np.array([0, 1]), np.array([6.0, 4.0])
    )
    out = evaluate(rich, np.array([100.0, 100.0]), np.array([0.5, 0.5]), US)
    assert out.withdrawable_minor[0] == pytest.approx(min(500.0, 1400.0 - 0.5 * 1000.0))
    assert out.ratio[0] == pytest.approx(1.4)


def test_the_edges_of_evaluate() -> None:
    # exactly at the cn call line (130 %) is a warning, not a call; half a fen of debt is owed
    book = Book(
        np.array([30.0, 0.0, 0.0]),
        np.array([100.0, 0.5, 0.0]),
        np.array([0, 2]),
        np.array([0, 0]),
        np.array([10.0, 1.0]),
    )
    out = evaluate(book, np.array([10.0]), np.array([0.5]), CN)
    assert out.status.tolist() == [Status.WARNING, Status.LIQUIDATE, Status.OK]
    np.testing.assert_allclose(out.withdrawable_minor, [0.0, 0.0, 0.0])  # no cash, nothing leaves
    # us: the excess equity formula binds below the cash; an account owing nothing needs no top-up
    us = Book(
        np.array([1000.0, 0.0]),
        np.array([900.0, 0.0]),
        np.array([0, 1]),
        np.array([0, 0]),
        np.array([10.0, 1.0]),
    )
    out = evaluate(us, np.array([100.0]), np.array([0.5]), US)
    np.testing.assert_allclose(out.withdrawable_minor, [1000.0 + 1000.0 - 900.0 - 0.5 * 1000.0, 0.0])
    np.testing.assert_allclose(out.topup_minor, [0.0, 0.0])
    assert out.status.tolist() == [Status.OK, Status.OK]


def test_available_margin_by_hand() -> None:
    # account 0: cash 100, own collateral 10 x 20 at 0.6, a financed buy of 5 x 40 (owes 150:
    # gain 50 counts at 0.5), fees 3; account 1: a financed buy at a loss (owes 300, worth 200)
    book = Book(
        np.array([100.0, 300.0]),
        np.array([153.0, 300.0]),
        np.array([0, 0, 1]),
        np.array([0, 1, 1]),
        np.array([10.0, 5.0, 5.0]),
        pos_financed_minor=np.array([0.0, 150.0, 300.0]),
        interest_fees_minor=np.array([3.0, 0.0]),
    )
    prices, conv = np.array([20.0, 40.0]), np.array([0.6, 0.5])
    got = available_margin(book, prices, conv, CN)
    expected_0 = 100 + 10 * 20 * 0.6 + (200 - 150) * 0.5 - 1.0 * 150 - 3
    expected_1 = 300 + (200 - 300) - 1.0 * 300
    np.testing.assert_allclose(got, [expected_0, expected_1])
    assert initial_margin_ok(book, prices, conv, CN).tolist() == [True, False]
    # us: equity - 50 % of the long market value
    np.testing.assert_allclose(
        available_margin(book, prices, conv, US), [100 + 400 - 153 - 0.5 * 400, 300 + 200 - 300 - 0.5 * 200]
    )
