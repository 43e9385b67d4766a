"""Feature builders: hand-computed values, point-in-time correctness, online == batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from features.builders import InstrumentIndex, build_features, online_features, trading_features
from features.catalogue import CATALOGUE, KEYS, feature_names
from tests.features.feature_tables import hand_made, random_population, typed

DAY_NS = 86_400 * 10**9


def _row(frame: pd.DataFrame, application_id: int) -> pd.Series:
    return frame.set_index("application_id").loc[application_id]


def test_columns_are_keys_then_catalogue_order() -> None:
    frame = build_features(hand_made())
    assert list(frame.columns) == [*KEYS, *feature_names()]
    assert frame["application_id"].tolist() == [101, 102]
    assert all(frame[f.name].dtype == np.float64 for f in CATALOGUE)


def test_trading_features_of_the_worked_example() -> None:
    row = _row(build_features(hand_made()), 101)
    # Trips: AAA 200 shares (100 held 40 d, 100 held 30 d), pnl 260000-220000-400 = 39600;
    # BBB 50 shares held 10 d, pnl 80000-100000-200 = -20200. Trade 8 is on the application day.
    assert row["trade_count"] == 7
    assert row["closed_round_trips"] == 2
    assert row["avg_holding_days"] == pytest.approx((100 * 40 + 100 * 30 + 50 * 10) / 250, rel=1e-12)
    assert row["win_rate"] == 0.5
    returns = np.array([39_600 / 220_000, -20_200 / 100_000])
    assert row["pnl_return_volatility"] == pytest.approx(returns.std(), rel=1e-12)
    # capital = max(deposits 500000, assets 200000); realised 19400; drawdown from 39600 to 19400.
    assert row["realised_pnl_to_capital"] == pytest.approx(19_400 / 500_000, rel=1e-12)
    assert row["max_drawdown_to_capital"] == pytest.approx(20_200 / 500_000, rel=1e-12)
    # Open: 10 CCC at 100.00 (volatile, illiquid) and 30 AAA at 15.00, valued at the last trade price.
    assert row["open_positions"] == 2
    assert row["holdings_hhi"] == pytest.approx((100_000**2 + 45_000**2) / 145_000**2, rel=1e-12)
    assert row["volatile_share_holdings"] == pytest.approx(100_000 / 145_000, rel=1e-12)
    assert row["illiquid_share_holdings"] == pytest.approx(100_000 / 145_000, rel=1e-12)
    # Everything traded falls in the 365 days before 2021-01-04; the deposit of 2020-01-02 does not.
    traded = 100_000 + 120_000 + 260_000 + 100_000 + 80_000 + 100_000 + 45_000
    assert row["turnover_12m_to_assets"] == pytest.approx(traded / 200_000, rel=1e-12)
    assert row["deposits_12m_to_assets"] == 0.0
    assert row["withdrawals_12m_to_assets"] == 0.5
    assert row["account_age_days"] == 369.0
    assert row["trades_per_month"] == pytest.approx(7 * 30 / 369, rel=1e-12)
    assert row["days_since_last_trade"] == pytest.approx(19 + 14 / 24, rel=1e-12)


def test_static_features_of_the_worked_example() -> None:
    frame = build_features(hand_made())
    one, two = _row(frame, 101), _row(frame, 102)
    assert (one["income_band"], one["net_worth_band"]) == (2.0, 2.0)
    assert one["liquid_assets_to_line"] == 1_000_000 / 400_000
    assert one["employment_employed"] == 1.0 and one["employment_student"] == 0.0
    assert two["employment_student"] == 1.0 and two["employment_employed"] == 0.0
    assert one["requested_line_to_assets"] == 2.0
    assert one["platform_assets_log10"] == pytest.approx(np.log10(2001.0), rel=1e-15)
    assert (one["thin_file"], two["thin_file"]) == (0.0, 1.0)  # customer 2 has a single account
    assert one["bureau_score"] == 700.0 and one["delinquencies_24m"] == 1.0


def test_customer_without_history_gets_zeros_and_nans_where_undefined() -> None:
    row = _row(build_features(hand_made()), 102)
    for name in ("trade_count", "closed_round_trips", "open_positions", "turnover_12m_to_assets"):
        assert row[name] == 0.0, name
    for name in (
        "avg_holding_days",
        "win_rate",
        "pnl_return_volatility",
        "holdings_hhi",
        "days_since_last_trade",
    ):
        assert np.isnan(row[name]), name
    # Zero platform assets: ratios use one major unit as the floor, so they stay finite.
    assert row["requested_line_to_assets"] == 100_000 / 100
    assert row["account_age_days"] == 17.0


def test_nan_only_in_nullable_features() -> None:
    frame = build_features(random_population(60, seed=3))
    for feature in CATALOGUE:
        if not feature.nullable:
            assert frame[feature.name].notna().all(), feature.name
        values = frame[feature.name].dropna()
        assert ((values >= feature.low) & (values <= feature.high)).all(), feature.name


# --- point in time ----------------------------------------------------------------------------


def _move(tables: dict[str, pd.DataFrame], trade_id: int, when: str) -> dict[str, pd.DataFrame]:
    trades = tables["trades"].copy()
    trades.loc[trades["trade_id"] == trade_id, "timestamp"] = pd.Timestamp(when)
    return {**tables, "trades": trades}


def test_trade_at_or_after_the_application_date_changes_nothing() -> None:
    tables = hand_made()
    without = {**tables, "trades": tables["trades"][tables["trades"]["trade_id"] != 8]}
    expected = build_features(without)
    for when in ("2021-01-04 00:00", "2021-01-04 10:00", "2030-01-01"):
        pd.testing.assert_frame_equal(build_features(_move(tables, 8, when)), expected)


def test_trade_moved_before_the_application_date_changes_the_features() -> None:
    tables = hand_made()
    before = _row(build_features(tables), 101)
    after = _row(build_features(_move(tables, 8, "2021-01-03 23:59:59")), 101)
    # The CCC position now closes: one more trip, one fewer open position, HHI of AAA alone.
    assert after["closed_round_trips"] == before["closed_round_trips"] + 1
    assert after["open_positions"] == 1 and after["holdings_hhi"] == 1.0
    assert after["trade_count"] == 8


def test_cash_flow_after_the_application_date_is_ignored() -> None:
    tables = hand_made()
    flows = tables["cash_flows"].copy()
    flows.loc[flows["timestamp"] > pd.Timestamp("2021-01-04"), "amount_minor"] = 10**12
    pd.testing.assert_frame_equal(build_features({**tables, "cash_flows": flows}), build_features(tables))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    extra=st.lists(
        st.tuples(
            st.integers(0, 3 * 365 * 86_400), st.sampled_from(["AAA", "CCC", "EEE"]), st.integers(1, 10**6)
        ),
        max_size=8,
    ),
)
def test_any_future_trades_leave_every_feature_unchanged(
    seed: int, extra: list[tuple[int, str, int]]
) -> None:
    tables = random_population(6, seed)
    expected = build_features(tables)
    apps = tables["applications"].set_index("customer_id")["application_date"]
    future = []
    for k, (offset_s, ticker, qty) in enumerate(extra):
        cid = 1 + k % 6
        # Sells larger than any holding are fine here: they are in the future and never read.
        when = apps.loc[cid] + pd.Timedelta(seconds=offset_s)
        future.append(
            {
                "trade_id": 10**9 + k,
                "customer_id": cid,
                "timestamp": when,
                "ticker": ticker,
                "side": "sell" if k % 2 else "buy",
                "quantity": qty,
                "price": 1.5,
                "fees_minor": 7,
            }
        )
    trades = pd.concat([tables["trades"], typed("trades", future)], ignore_index=True)
    pd.testing.assert_frame_equal(build_features({**tables, "trades": trades}), expected)


# --- online == batch -------------------------------------------------------------------------


def _online_row(tables: dict[str, pd.DataFrame], customer_id: int, index: InstrumentIndex) -> np.ndarray:
    app = tables["applications"].set_index("customer_id").loc[customer_id]
    customer = tables["customers"].set_index("customer_id").loc[customer_id]
    bureau = tables["bureau"].set_index("customer_id").loc[customer_id]
    trades = tables["trades"][tables["trades"]["customer_id"] == customer_id]
    flows = tables["cash_flows"][tables["cash_flows"]["customer_id"] == customer_id]
    return online_features(
        application=app.to_dict(),
        customer=customer.to_dict(),
        bureau=bureau.to_dict(),
        trades={name: trades[name].tolist() for name in trades.columns},  # plain lists, as JSON gives
        cash_flows={name: flows[name].to_numpy() for name in flows.columns},
        instruments=index,
    )


def test_online_equals_batch_exactly_for_every_customer() -> None:
    tables = random_population(150, seed=11)
    batch = build_features(tables)
    index = InstrumentIndex.from_frame(tables["instruments"])
    matrix = batch[feature_names()].to_numpy()
    for i, customer_id in enumerate(batch["customer_id"]):
        row = _online_row(tables, int(customer_id), index)
        assert row.dtype == np.float64 and row.shape == (len(CATALOGUE),)
        assert np.array_equal(row, matrix[i], equal_nan=True), f"customer {customer_id}"


def test_batch_is_independent_of_the_other_customers() -> None:
    tables = random_population(40, seed=5)
    full = build_features(tables).set_index("customer_id")
    keep = [3, 17, 29]
    subset = {
        name: (frame[frame["customer_id"].isin(keep)] if "customer_id" in frame.columns else frame)
        for name, frame in tables.items()
    }
    part = build_features(subset).set_index("customer_id")
    pd.testing.assert_frame_equal(part, full.loc[keep])


def test_trading_features_match_the_trading_columns_of_build_features() -> None:
    tables = random_population(30, seed=8)
    trading = trading_features(tables)
    full = build_features(tables)
    pd.testing.assert_frame_equal(trading, full[["application_id", *feature_names("trading")]])


# --- bad input -------------------------------------------------------------------------------


def test_sell_beyond_holdings_is_refused_naming_the_trade() -> None:
    tables = hand_made()
    trades = tables["trades"].copy()
    trades.loc[trades["trade_id"] == 3, "quantity"] = 201
    with pytest.raises(InputError, match="trade_id 3 exceeds the shares held"):
        build_features({**tables, "trades": trades})


def test_unknown_ticker_and_category_are_refused() -> None:
    tables = hand_made()
    trades = tables["trades"].copy()
    trades.loc[0, "ticker"] = "ZZZ"
    with pytest.raises(InputError, match="unknown ticker"):
        build_features({**tables, "trades": trades})
    customers = tables["customers"].copy()
    customers.loc[0, "employment"] = "astronaut"
    with pytest.raises(InputError, match="employment"):
        build_features({**tables, "customers": customers})


def _online_inputs() -> dict[str, Any]:
    """``online_features`` keyword arguments but trades and cash flows: the first hand-made
    customer applying on 2021-01-04, so each test varies only what it checks."""
    tables = hand_made()
    return {
        "application": {
            "application_date": "2021-01-04",
            "requested_line_minor": 1,
            "platform_assets_minor": 1,
        },
        "customer": tables["customers"].iloc[0].to_dict(),
        "bureau": tables["bureau"].iloc[0].to_dict(),
        "instruments": InstrumentIndex.from_frame(tables["instruments"]),
    }


def test_online_refuses_ragged_arrays_and_missing_fields() -> None:
    kwargs = {**_online_inputs(), "cash_flows": {"timestamp": [], "kind": [], "amount_minor": []}}
    ragged = {
        "timestamp": ["2020-01-02"],
        "ticker": ["AAA", "BBB"],
        "side": ["buy"],
        "quantity": [1],
        "price": [1.0],
        "fees_minor": [0],
    }
    with pytest.raises(InputError, match=r"trades\.ticker"):
        online_features(trades=ragged, **kwargs)
    with pytest.raises(InputError, match=r"trades\.side: required"):
        online_features(trades={k: v for k, v in ragged.items() if k != "side"}, **kwargs)
    empty = {name: [] for name in ragged}
    row = online_features(trades=empty, **kwargs)
    assert row[feature_names().index("trade_count")] == 0.0


def test_online_checks_the_rules_the_batch_contracts_enforce() -> None:
    kwargs = _online_inputs()
    trade = {"timestamp": ["2020-01-02"], "ticker": ["AAA"], "side": ["buy"], "quantity": [1], "price": [1.0]}
    no_flows = {"timestamp": [], "kind": [], "amount_minor": []}
    for field, value, rule in (("price", 0.0, "> 0"), ("quantity", 0, "> 0"), ("fees_minor", -1, ">= 0")):
        bad = {"fees_minor": [0], **trade, field: [value]}
        with pytest.raises(InputError, match=rf"trades\.{field}: must be {rule}"):
            online_features(trades=bad, cash_flows=no_flows, **kwargs)
    flows = {"timestamp": ["2020-01-02"], "kind": ["deposit"], "amount_minor": [-5]}
    with pytest.raises(InputError, match=r"cash_flows\.amount_minor: must be > 0"):
        online_features(trades={**trade, "fees_minor": [0]}, cash_flows=flows, **kwargs)


def test_categorical_string_columns_give_identical_features() -> None:
    tables = random_population(40, seed=9)
    expected = build_features(tables)
    as_categories = {name: frame.copy() for name, frame in tables.items()}
    as_categories["trades"]["side"] = pd.Categorical(
        tables["trades"]["side"], categories=["short", "sell", "buy"]
    )
    as_categories["trades"]["ticker"] = tables["trades"]["ticker"].astype("category")
    as_categories["cash_flows"]["kind"] = tables["cash_flows"]["kind"].astype("category")
    as_categories["customers"]["employment"] = tables["customers"]["employment"].astype("category")
    pd.testing.assert_frame_equal(build_features(as_categories), expected)  # unused "short" is no error
    as_categories["trades"].loc[0, "side"] = "short"
    with pytest.raises(InputError, match=r"trades\.side: unknown values \['short'\]"):
        build_features(as_categories)
