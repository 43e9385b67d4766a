"""Liquidation schedules: the square-root law, TWAP / VWAP / POV, the book-wide cap, limit-down days."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from creditdesk.errors import InputError
from creditdesk.price_limits import limit_path
from margin.engine import CN, Book
from margin.replay import replay
from margin.schedules import (
    IMMEDIATE,
    ONE_SHOT,
    POV,
    TWAP,
    VWAP,
    DayFills,
    SchedulePolicy,
    build_schedule,
    check_participation,
    fill_day,
    impact_fraction,
    sessions_needed,
    volume_profile,
)

PRICE = np.array([1_000.0, 2_000.0])  # minor units per share
ADV_MINOR = np.array([100_000_000.0, 50_000_000.0])  # money ADV: ¥1m and ¥0.5m
SIGMA = np.array([0.02, 0.03])  # daily volatility
NO_SPREAD = SchedulePolicy(spread_bps=0.0)


def plan(
    quantity: list[float], instrument: list[int], algorithm: int, policy: SchedulePolicy = NO_SPREAD, **kw
):
    q = np.array(quantity, dtype=float)
    return build_schedule(
        q,
        np.array(instrument),
        np.full(len(q), algorithm, dtype=np.int8),
        PRICE,
        ADV_MINOR,
        SIGMA,
        policy,
        **kw,
    )


def test_square_root_law_golden() -> None:
    # Source: the square-root impact law I = Y·σ·√(Q/V) (Tóth et al. 2011, "Anomalous price
    # impact and the critical nature of liquidity", Y of order one; Almgren, Thum, Hauptmann &
    # Li 2005, "Direct estimation of equity market impact", temporary impact ∝ rate^0.6 ≈ ½).
    # Y = 1, σ = 2 %, Q = ¥10,000 of a ¥1m-ADV name (1 %): 0.02 × √0.01 = 0.002 = 20 bps.
    assert float(impact_fraction(1_000_000.0, 100_000_000.0, 0.02)) == pytest.approx(0.0020)
    # a one-day VWAP trades at the constant rate Q/ADV in every bucket: exactly the textbook
    # cost, plus half the 10 bps spread = 25 bps
    s = plan([1_000.0], [0], VWAP, SchedulePolicy(participation=0.5))
    assert s.days == 1
    assert s.expected_cost_fraction[0] == pytest.approx(0.0005 + 0.0020)


def test_twap_over_trades_thin_buckets_and_costs_more_than_vwap() -> None:
    # TWAP's bucket rate is (Q/B) / (w_b·V): its impact is the VWAP's × mean_b 1/√(B·w_b) ≥ 1
    w = volume_profile("cn")
    factor = float(np.mean(1.0 / np.sqrt(len(w) * w)))
    twap = plan([1_000.0], [0], TWAP, SchedulePolicy(participation=0.5, spread_bps=0.0))
    vwap = plan([1_000.0], [0], VWAP, SchedulePolicy(participation=0.5, spread_bps=0.0))
    assert factor > 1.0
    assert twap.expected_cost_fraction[0] == pytest.approx(vwap.expected_cost_fraction[0] * factor)
    # both are cut into one child order per intraday bucket, summing to the parent
    assert len(twap.quantity) == len(w) and twap.quantity.sum() == pytest.approx(1_000.0)
    np.testing.assert_allclose(vwap.quantity, 1_000.0 * w)


def test_pov_sells_at_the_cap_until_done() -> None:
    # 10 % of a 100,000-share day is 10,000 shares a session: 25,000 shares take 3 sessions
    policy = SchedulePolicy(participation=0.10, spread_bps=0.0)
    s = plan([25_000.0], [0], POV, policy)
    assert s.days == 3 == sessions_needed(25_000, 100_000, 0.10)
    per_day = np.bincount(s.day, weights=s.quantity)
    assert per_day.tolist() == [10_000.0, 10_000.0, 5_000.0]
    # at the cap the book trades 10 % of every bucket (impact σ·√0.10); the last day's 5,000
    # fill the first four buckets (17+12+10+9 % of 10,000 = 4,800) and 200 of the fifth's 1,100
    full = 0.02 * math.sqrt(0.10)
    last = 0.02 * math.sqrt(200 / (0.11 * 100_000))
    assert s.expected_cost_fraction[0] == pytest.approx((24_800 * full + 200 * last) / 25_000)


def test_the_participation_cap_is_shared_by_the_whole_book_per_name() -> None:
    # two accounts each want 8,000 shares of name 0 (8 % of its 100,000-share day, under a
    # 10 % cap each on its own) and one wants 1,000 of name 1: name 0 gets 10,000 for the
    # book, pro rata 5,000 each; name 1 is not touched by name 0's crowd
    policy = SchedulePolicy(participation=0.10, spread_bps=0.0)
    left = np.array([8_000.0, 8_000.0, 1_000.0])

    def day_of(schedule: int) -> DayFills:
        modes = np.full(3, schedule, dtype=np.int8)
        return fill_day(left, left, np.zeros(3), modes, np.array([0, 0, 1]), PRICE, ADV_MINOR, SIGMA,
                        policy, volume_profile("cn"))  # fmt: skip

    fills = day_of(POV)
    assert fills.quantity.tolist() == [5_000.0, 5_000.0, 1_000.0]
    # impact is the book's: both rows of name 0 pay the cost of 10 % participation
    assert fills.cost_fraction[0] == pytest.approx(fills.cost_fraction[1])
    assert fills.cost_fraction[0] == pytest.approx(0.02 * math.sqrt(0.10))
    # the one-shot sale ignores the cap (it is the baseline, not a schedule)
    shot = day_of(IMMEDIATE)
    assert shot.quantity.tolist() == left.tolist()


def test_limit_down_days_are_skipped_in_cn() -> None:
    # Source: SSE/SZSE 交易规则 涨跌幅限制 (main board ±10 %): a name closing at limit-down
    # cannot be sold that day; its child orders wait for the next session
    close = np.array([[10.0, 10.0], [7.0, 10.0], [7.0, 10.0], [7.0, 10.0]])
    _, locked = limit_path(close, 0.10)  # name 0 closes at 9.0, 8.1, 7.29: limit-down each day
    assert locked[1:, 0].tolist() == [True, True, True] and not locked[:, 1].any()
    s = plan([1_000.0, 1_000.0], [0, 1], VWAP, SchedulePolicy(participation=0.5), locked=locked[1:])
    assert set(s.day[s.row == 0].tolist()) == {3}  # three locked sessions skipped
    assert set(s.day[s.row == 1].tolist()) == {0}


def test_policy_chooses_the_algorithm_by_urgency() -> None:
    policy = SchedulePolicy(urgent="pov", deadline="twap")
    assert policy.algorithm_for(np.array([True, False])).tolist() == [POV, TWAP]
    assert SchedulePolicy().algorithm_for(np.array([False])).tolist() == [VWAP]


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.000001, 2, float("nan"), "0.1"])
def test_participation_outside_zero_one_is_refused(bad: object) -> None:
    with pytest.raises(InputError) as err:
        check_participation(bad)  # type: ignore[arg-type]
    assert err.value.field == "participation"
    with pytest.raises(InputError):
        SchedulePolicy(participation=bad)  # type: ignore[arg-type]
    assert check_participation(1.0) == 1.0


def one_account_book(qty: float, debt: float) -> Book:
    return Book(np.array([0.0]), np.array([debt]), np.array([0]), np.array([0]), np.array([qty]))


def run_replay(path: list[float], policy: SchedulePolicy, adv_shares: float = 2_000.0):
    close = np.array(path, dtype=float)[:, None]
    ones = np.ones_like(close)
    # 1,000 shares at 10 owed 9,000: ratio 1.11, below the 130 % call line; at 9 it is 1.0,
    # under the 110 % floor: liquidate at once (urgent: POV)
    return replay(
        one_account_book(1_000.0, 9_000.0),
        close,
        ones * adv_shares,
        ones * 0.02,
        np.array([0.7]),
        CN,
        topup_probability=0.0,
        annual_rate=0.0,
        schedule=policy,
    )


def test_replay_reports_realised_equal_to_expected_on_a_flat_path() -> None:
    # flat prices and the day's volume equal to the ADV: the schedule executes as planned
    rep = run_replay([10.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], SchedulePolicy(participation=0.10))
    sold_days = np.flatnonzero(rep.liquidated_value_minor > 0)
    assert len(sold_days) > 1  # 200 shares a day at most: the schedule spans several sessions
    assert rep.totals["realised_shortfall_minor"] == pytest.approx(rep.totals["expected_shortfall_minor"])
    assert rep.totals["realised_shortfall_minor"] == pytest.approx(rep.totals["slippage_minor"])


def test_schedule_beats_the_one_shot_sale_on_a_flat_path_and_loses_on_a_falling_one() -> None:
    flat = [10.0, 9.0] + [9.0] * 8
    sched, shot = run_replay(flat, SchedulePolicy(participation=0.10)), run_replay(flat, ONE_SHOT)
    assert shot.liquidated_value_minor[1] > 0 and (shot.liquidated_value_minor[2:] == 0).all()
    assert sched.totals["slippage_minor"] < shot.totals["slippage_minor"]
    # a steady fall: selling over days gives up the drift the one-shot sale avoids
    falling = [10.0, 9.0] + [9.0 * 0.97**k for k in range(1, 9)]
    sched_f, shot_f = run_replay(falling, SchedulePolicy(participation=0.10)), run_replay(falling, ONE_SHOT)
    assert sched_f.totals["realised_shortfall_minor"] > sched_f.totals["expected_shortfall_minor"]
    assert shot_f.totals["realised_shortfall_minor"] == pytest.approx(shot_f.totals["slippage_minor"])


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5"])
def test_stress_cli_refuses_a_participation_outside_zero_one(
    var_dir: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    from pipelines.cli import main

    with pytest.raises(SystemExit) as info:
        main(["stress", "--from", "2008-09-01", "--to", "2009-03-31", "--participation", value])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "participation" in lines[0]
    assert not (var_dir / "stress").exists()  # nothing written
