"""Margin maths with golden values worked out by hand, and properties with hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from margin.engine import (
    CN,
    US,
    Book,
    Status,
    available_margin,
    evaluate,
    initial_margin_ok,
    no_calls,
    step_calls,
)
from margin.liquidation import liquidation_plan, required_sale, slippage_fraction
from margin.risk import STRESS_SCENARIOS, backtest, kupiec_pof, pnl_scenarios, stress, traffic_light, var_es


def book(cash: list[float], debt: list[float], positions: list[tuple[int, int, float]]) -> Book:
    acc, ins, qty = zip(*positions, strict=True) if positions else ((), (), ())
    return Book(
        np.array(cash, float),
        np.array(debt, float),
        np.array(acc, int),
        np.array(ins, int),
        np.array(qty, float),
    )


def test_cn_ratios_statuses_topups_and_withdrawals() -> None:
    b = book(
        cash=[100, 0, 500, 0, 0, 3_500],
        debt=[1_000, 1_000, 0, 1_000, 1_000, 1_000],
        positions=[(0, 0, 10), (1, 0, 20), (3, 0, 14), (4, 0, 10)],
    )
    ev = evaluate(b, np.array([100.0]), np.array([0.7]), CN)
    # (100 + 1000)/1000 = 1.1 is not below the 1.1 floor → call; 2.0 ok; no debt ok; 1.4 warning;
    # 1.0 liquidate
    np.testing.assert_allclose(ev.ratio, [1.1, 2.0, math.inf, 1.4, 1.0, 3.5])
    assert ev.status.tolist() == [
        Status.CALL,
        Status.OK,
        Status.OK,
        Status.WARNING,
        Status.LIQUIDATE,
        Status.OK,
    ]
    np.testing.assert_allclose(ev.topup_minor, [400, 0, 0, 100, 500, 0])  # to 150 %: 1.5·1000 − cash − MV
    np.testing.assert_allclose(ev.withdrawable_minor, [0, 0, 500, 0, 0, 500])  # above 300 %: 3500 − 3000
    np.testing.assert_allclose(ev.collateral_value, [700, 1_400, 0, 980, 700, 0])


def test_us_maintenance_with_concentration_addon() -> None:
    b = book(
        cash=[0, 0, 0, 0],
        debt=[600, 800, 760, 900],
        positions=[(0, 0, 5), (0, 1, 5), (1, 0, 10), (2, 0, 5), (2, 1, 5), (3, 0, 5), (3, 1, 5)],
    )
    ev = evaluate(b, np.array([100.0, 100.0]), np.array([0.7, 0.7]), US)
    np.testing.assert_allclose(ev.ratio, [0.4, 0.2, 0.24, 0.1])
    np.testing.assert_allclose(ev.call_level, [0.25, 0.30, 0.25, 0.25])  # one name = 100 % > 60 %
    assert ev.status.tolist() == [Status.OK, Status.CALL, Status.CALL, Status.LIQUIDATE]
    np.testing.assert_allclose(ev.topup_minor, [0, 100, 60, 200])  # 0.30·1000 − equity


def test_initial_margin_rules() -> None:
    # cn (实施细则 保证金可用余额): own collateral 2000 at 70 % = 1400; a financed buy of D uses
    # D × 100 % of margin: D ≤ 1400. Golden cases with losses: tests/margin/test_margin_rules.py
    def cn_book(d: float) -> Book:
        return Book(
            np.zeros(1),
            np.array([d]),
            np.array([0, 0]),
            np.array([0, 1]),
            np.array([20.0, d / 100]),
            pos_financed_minor=np.array([0.0, d]),
        )

    prices, conv = np.array([100.0, 100.0]), np.array([0.7, 0.7])
    assert [initial_margin_ok(cn_book(d), prices, conv, CN)[0] for d in (1400.0, 1401.0)] == [True, False]
    # us: equity ≥ 50 % of market value: D ≤ 1000
    for d, ok in ((1000.0, True), (1001.0, False)):
        b = book([0], [d], [(0, 0, 20)])
        assert initial_margin_ok(b, np.array([100.0]), np.array([0.7]), US).tolist() == [ok]


def test_bad_inputs_are_refused() -> None:
    b = book([0], [100], [(0, 0, 1)])
    with pytest.raises(InputError, match="prices"):
        evaluate(b, np.array([np.nan]), np.array([0.7]))
    with pytest.raises(InputError, match="prices"):
        evaluate(b, np.array([1.0, 2.0]), np.array([0.7]))
    with pytest.raises(InputError, match="instrument index"):
        book([0], [100], [(0, 3, 1)]).validate(1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e4)), min_size=1, max_size=30),
    st.floats(0.01, 500),
)
def test_topup_restores_the_target_and_status_is_monotone_in_price(rows: list, price: float) -> None:
    cash = np.array([r[0] for r in rows])
    debt = np.array([r[1] for r in rows])
    b = Book(cash, debt, np.arange(len(rows)), np.zeros(len(rows), int), np.array([r[2] for r in rows]))
    ev = evaluate(b, np.array([price]), np.array([0.7]), CN)
    topped = evaluate(
        Book(cash + ev.topup_minor, debt, b.pos_account, b.pos_instrument, b.pos_quantity),
        np.array([price]),
        np.array([0.7]),
        CN,
    )
    assert (topped.ratio >= CN.target * (1 - 1e-9)).all()
    lower = evaluate(b, np.array([price * 0.9]), np.array([0.7]), CN)
    assert (lower.status >= ev.status).all()


def test_call_lifecycle_issue_meet_deadline() -> None:
    def ev_with(status: list[int], ratio: list[float]):
        b = book([0] * len(status), [1] * len(status), [])
        base = evaluate(b, np.array([1.0]), np.array([0.7]), CN)
        from dataclasses import replace

        return replace(base, status=np.array(status, np.int8), ratio=np.array(ratio))

    state = no_calls(3)
    state, e = step_calls(state, ev_with([2, 2, 3], [1.2, 1.2, 1.0]), day=0)
    assert e.issued.tolist() == [True, True, True] and e.liquidate.tolist() == [False, False, True]
    assert state.open.tolist() == [True, True, False] and state.deadline_day.tolist() == [2, 2, -1]
    state, e = step_calls(state, ev_with([0, 1, 0], [1.6, 1.45, 2.0]), day=1)
    assert e.met.tolist() == [True, False, False] and state.open.tolist() == [False, True, False]
    state, e = step_calls(state, ev_with([0, 1, 0], [1.6, 1.45, 2.0]), day=2)
    assert e.liquidate.tolist() == [False, True, False]  # deadline passed below the 150 % target
    assert not state.open.any() and state.deadline_day.tolist() == [-1, -1, -1]


def test_required_sale_golden() -> None:
    # C=0, M=1200, D=1000, T=1.5, no cost: s = (1500 − 1200)/(1.5 − 1) = 600 → (600)/(400) = 1.5
    assert required_sale(0, 1200, 1000, 0.0, CN, 1.5) == pytest.approx(600)
    assert required_sale(0, 1200, 1000, 0.01, CN, 1.5) == pytest.approx(300 / 0.485)
    assert required_sale(0, 1600, 1000, 0.0, CN, 1.5) == 0.0
    # us: E = 200, M = 1000, T = 0.3: s = (300 − 200)/0.3
    assert required_sale(0, 1000, 800, 0.0, US, 0.3) == pytest.approx(1000 / 3)


def test_plan_sells_just_enough_and_stages_under_the_adv_cap() -> None:
    plan = liquidation_plan(
        np.array([120.0]), np.array([10.0]), np.array([1e9]), np.array([0.0]), 0.0, 1000.0, CN
    )
    # cost = half of 10 bps; s = 300 / (1.5 · 0.9995 − 1) = 600.9 → 61 whole shares
    assert [(o.stage, o.quantity) for o in plan.orders] == [(0, 61.0)]
    assert plan.restores_target and plan.shortfall_minor == 0
    assert plan.orders[0].slippage_bps == pytest.approx(5.0)
    capped = liquidation_plan(
        np.array([120.0]),
        np.array([10.0]),
        np.array([300.0]),
        np.array([0.0]),
        0.0,
        1000.0,
        CN,
        adv_share=0.1,
    )
    assert [(o.stage, o.quantity) for o in capped.orders] == [(0, 30.0), (1, 30.0), (2, 1.0)]


def test_plan_order_most_liquid_then_riskiest_first() -> None:
    qty = np.array([100.0, 100.0, 100.0])
    price = np.array([10.0, 10.0, 10.0])
    adv = np.array([1e3, 1e8, 1e8])  # position 0 is illiquid; 1 and 2 equally liquid
    vol = np.array([0.05, 0.01, 0.03])  # 2 is riskier than 1
    plan = liquidation_plan(qty, price, adv, vol, 0.0, 2600.0, CN, impact=0.0)
    assert [o.position for o in plan.orders][:2] == [2, 1]


def test_underwater_account_sells_everything_and_reports_the_shortfall() -> None:
    plan = liquidation_plan(
        np.array([100.0]), np.array([9.0]), np.array([1e9]), np.array([0.0]), 0.0, 1000.0, CN
    )
    assert not plan.restores_target
    assert plan.sale_value_minor == pytest.approx(900.0)
    assert plan.shortfall_minor == pytest.approx(1000.0 - 900.0 * (1 - 0.0005))


def test_slippage_is_square_root_in_participation() -> None:
    s1 = slippage_fraction(100, 10_000, 0.02, spread_bps=0)
    s4 = slippage_fraction(400, 10_000, 0.02, spread_bps=0)
    assert float(s4) == pytest.approx(2 * float(s1)) and float(s1) == pytest.approx(0.002)


def test_var_es_golden() -> None:
    pnl = -np.random.default_rng(0).permutation(np.arange(1.0, 251.0))  # losses 1..250
    var, es = var_es(pnl)
    assert var[0] == 248.0  # 3rd largest loss
    assert es[0] == pytest.approx((250 + 249 + 248 + 247 + 246 + 245 + 0.25 * 244) / 6.25)


def test_kupiec_and_traffic_light_golden() -> None:
    lr, p = kupiec_pof(0, 250)
    assert lr == pytest.approx(-2 * 250 * math.log(0.99)) and p == pytest.approx(0.02498, abs=1e-4)
    lr5, p5 = kupiec_pof(5, 250)
    assert lr5 == pytest.approx(1.9568, abs=1e-3) and p5 == pytest.approx(0.1619, abs=1e-3)
    assert kupiec_pof(3, 300, 0.01)[0] == pytest.approx(0.0, abs=1e-9)  # observed rate = p
    assert [traffic_light(x) for x in (0, 4, 5, 9, 10)] == ["green", "green", "yellow", "yellow", "red"]
    assert [traffic_light(x, 500) for x in (8, 9, 14, 15)] == ["green", "yellow", "yellow", "red"]


def test_backtest_counts_exceptions_like_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    pnl = rng.standard_t(3, 600)
    bt = backtest(pnl, window=250, last=250)
    manual = []
    for d in range(350, 600):
        v, _ = var_es(pnl[d - 250 : d])
        if -pnl[d] > v[0]:
            manual.append(d)
    assert bt.exception_days.tolist() == manual and bt.observations == 250
    assert bt.zone == traffic_light(len(manual))


def test_pnl_scenarios_and_book_var_are_linear_in_positions() -> None:
    b = book([0, 0], [0, 0], [(0, 0, 10), (1, 0, 5), (1, 1, 2)])
    prices = np.array([10.0, 50.0])
    returns = np.array([[0.01, -0.02], [-0.05, 0.03]])
    pnl = pnl_scenarios(b, prices, returns)
    np.testing.assert_allclose(pnl, [[1.0, 0.5 - 2.0], [-5.0, -2.5 + 3.0]])

    # Linear in positions: k times the quantities gives k times every scenario's P&L, and two
    # sets of positions held together give the sum of their P&Ls.
    rng = np.random.default_rng(11)
    history = rng.normal(0.0, 0.02, size=(250, 2))
    left = book([0, 0], [0, 0], [(0, 0, 7), (1, 1, 3)])
    right = book([0, 0], [0, 0], [(0, 1, 4), (1, 0, 9)])
    both = book([0, 0], [0, 0], [(0, 0, 7), (1, 1, 3), (0, 1, 4), (1, 0, 9)])
    tripled = book([0, 0], [0, 0], [(0, 0, 21), (1, 1, 9)])
    pnl_left, pnl_right = pnl_scenarios(left, prices, history), pnl_scenarios(right, prices, history)
    np.testing.assert_allclose(pnl_scenarios(both, prices, history), pnl_left + pnl_right)
    np.testing.assert_allclose(pnl_scenarios(tripled, prices, history), 3 * pnl_left)

    # The book's VaR and ES (of the summed P&L) scale with the positions: 3x the book, 3x the VaR.
    var_1, es_1 = var_es(pnl_left.sum(axis=1))
    var_3, es_3 = var_es(pnl_scenarios(tripled, prices, history).sum(axis=1))
    assert var_1[0] > 0 and es_1[0] >= var_1[0]
    np.testing.assert_allclose([var_3[0], es_3[0]], [3 * var_1[0], 3 * es_1[0]])


def test_stress_scenarios_get_worse_with_the_shock() -> None:
    b = book([0, 0], [1_000, 1_400], [(0, 0, 200), (1, 0, 200)])
    args = (np.array([10.0]), np.array([0.7]), np.array([1e4]), np.array([0.02]), CN)
    mild, crash = (stress(b, *args, STRESS_SCENARIOS[s]) for s in ("mild", "crash"))
    assert (crash.ratio < mild.ratio).all() and (crash.status >= mild.status).all()
    assert crash.loss_minor.sum() >= mild.loss_minor.sum()
    np.testing.assert_allclose(mild.ratio, [1900 / 1000, 1900 / 1400])


def test_us_ratio_of_accounts_with_little_or_no_stock() -> None:
    """Equity / MV for any MV > 0 (however small); with no stock the sign of equity decides."""
    b = book(
        cash=[100, 300, 0, 0, 0],
        debt=[300, 300, 1, 0, 0],
        positions=[(2, 0, 1), (3, 0, 1)],  # accounts 2 and 3 hold one share worth 0.5
    )
    ev = evaluate(b, np.array([0.5]), np.array([0.7]), US)
    # 0: owes 300, holds nothing, equity −200 → −inf; 1: equity exactly 0 → +inf (not −inf);
    # 2: equity 0.5 − 1 = −0.5 over MV 0.5 → −1; 3: no debt, equity 0.5 over 0.5 → 1; 4: empty → inf
    assert ev.ratio.tolist() == [-math.inf, math.inf, -1.0, 1.0, math.inf]
    assert ev.status.tolist() == [Status.LIQUIDATE, Status.OK, Status.LIQUIDATE, Status.OK, Status.OK]
    # one name is the whole (tiny) book of 2 and 3: the concentration add-on applies
    np.testing.assert_allclose(ev.call_level, [0.25, 0.25, 0.30, 0.30, 0.25])


def test_us_nothing_is_withdrawable_below_the_withdrawal_line() -> None:
    # equity 100 − 50 % of MV 1,000 < 0: nothing may leave, though the account holds 100 cash
    b = book(cash=[100], debt=[1_000], positions=[(0, 0, 10)])
    assert evaluate(b, np.array([100.0]), np.array([0.7]), US).withdrawable_minor.tolist() == [0.0]


def test_available_margin_has_one_entry_per_account_even_without_positions() -> None:
    b = Book(
        np.array([100.0, 250.0]),
        np.array([0.0, 50.0]),
        np.array([0]),
        np.array([0]),
        np.array([10.0]),
        interest_fees_minor=np.array([0.0, 20.0]),
    )
    prices, conv = np.array([10.0]), np.array([0.5])
    np.testing.assert_allclose(available_margin(b, prices, conv, CN), [100 + 100 * 0.5, 250 - 20])
    np.testing.assert_allclose(available_margin(b, prices, conv, US), [100 + 100 - 50, 250 - 50])


def test_cn_available_margin_a_financed_gain_of_one_unit_counts_at_the_conversion_rate() -> None:
    # financed buy of 10 (loan 10) now worth 11: gain 1 × 0.5 − 100 % × 10 financed;
    # a financed row of 1 worth 1: no gain, − 1 × 100 %
    b = Book(
        np.array([0.0, 0.0]),
        np.array([10.0, 1.0]),
        np.array([0, 1]),
        np.array([0, 1]),
        np.array([1.0, 1.0]),
        pos_financed_minor=np.array([10.0, 1.0]),
    )
    got = available_margin(b, np.array([11.0, 1.0]), np.array([0.5, 0.5]), CN)
    np.testing.assert_allclose(got, [1 * 0.5 - 10.0, -1.0])


def test_us_ratio_of_an_empty_account_without_debt_is_inf_whatever_its_cash() -> None:
    # no loan and no stock: nothing to maintain, so the ratio is +inf even with a cash deficit
    ev = evaluate(book(cash=[-5, 0], debt=[0, 0], positions=[]), np.array([10.0]), np.array([0.7]), US)
    assert ev.ratio.tolist() == [math.inf, math.inf]
