"""Small raw populations for the feature tests, independent of the synthetic generator.

``hand_made()`` is a two-customer population whose features are worked out by hand in
``test_builders.py``. ``random_population()`` is a seeded random one with the awkward cases a
generator may never produce: partial sells, several round trips per name, equal timestamps,
trades and cash flows at and after the application date, customers with no trades.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schemas import TABLES

TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE")


def typed(table: str, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TABLES[table]))
    for column, dtype in TABLES[table].items():
        frame[column] = frame[column].astype("object" if dtype == "string" else dtype)
    return frame


def instruments() -> pd.DataFrame:
    # adv quantile(0.2) of [1e3, 1e6, 2e6, 3e6, 4e6] = 800_200: only CCC is illiquid.
    return typed(
        "instruments",
        [
            {
                "ticker": "AAA",
                "sector": "tech",
                "volatility_annual": 0.2,
                "adv_shares": 1e6,
                "adv_money": 1e6 * 50.0,
                "volatile": False,
            },
            {
                "ticker": "BBB",
                "sector": "energy",
                "volatility_annual": 0.3,
                "adv_shares": 2e6,
                "adv_money": 2e6 * 50.0,
                "volatile": False,
            },
            {
                "ticker": "CCC",
                "sector": "biotech",
                "volatility_annual": 0.9,
                "adv_shares": 1e3,
                "adv_money": 1e3 * 50.0,
                "volatile": True,
            },
            {
                "ticker": "DDD",
                "sector": "banks",
                "volatility_annual": 0.25,
                "adv_shares": 3e6,
                "adv_money": 3e6 * 50.0,
                "volatile": False,
            },
            {
                "ticker": "EEE",
                "sector": "retail",
                "volatility_annual": 0.6,
                "adv_shares": 4e6,
                "adv_money": 4e6 * 50.0,
                "volatile": True,
            },
        ],
    )


def _customer(customer_id: int, opened: str, employment: str = "employed") -> dict:
    return {
        "customer_id": customer_id,
        "age": 40,
        "annual_income_minor": 6_000_000,  # 60k: band 2
        "net_worth_minor": 30_000_000,  # 300k: band 2
        "liquid_assets_minor": 1_000_000,
        "employment": employment,
        "investing_experience_years": 5,
        "risk_questionnaire_score": 55,
        "region": "north",
        "identity_verified": True,
        "is_pep": False,
        "pep_reviewed": False,
        "sanctions_hit": False,
        "account_opened_date": pd.Timestamp(opened),
        "related_party": False,
    }


def _bureau(customer_id: int) -> dict:
    return {
        "customer_id": customer_id,
        "bureau_score": 700,
        "open_accounts": 4,
        "credit_utilisation": 0.25,
        "delinquencies_24m": 1,
        "inquiries_6m": 2,
        "oldest_account_months": 120,
        "debt_to_income": 0.3,
        "bureau_default_24m": False,
    }


def _trade(
    trade_id: int, customer_id: int, when: str, ticker: str, side: str, qty: int, price: float, fees: int
):
    return {
        "trade_id": trade_id,
        "customer_id": customer_id,
        "timestamp": pd.Timestamp(when),
        "ticker": ticker,
        "side": side,
        "quantity": qty,
        "price": price,
        "fees_minor": fees,
    }


def hand_made() -> dict[str, pd.DataFrame]:
    """Customer 1 trades (worked example in test_builders); customer 2 has no history at all."""
    trades = [
        _trade(1, 1, "2020-03-02 10:00", "AAA", "buy", 100, 10.0, 100),
        _trade(2, 1, "2020-03-12 10:00", "AAA", "buy", 100, 12.0, 100),
        _trade(3, 1, "2020-04-11 10:00", "AAA", "sell", 200, 13.0, 200),
        _trade(4, 1, "2020-06-01 10:00", "BBB", "buy", 50, 20.0, 100),
        _trade(5, 1, "2020-06-11 10:00", "BBB", "sell", 50, 16.0, 100),
        _trade(6, 1, "2020-12-01 10:00", "CCC", "buy", 10, 100.0, 100),
        _trade(7, 1, "2020-12-15 10:00", "AAA", "buy", 30, 15.0, 100),
        # On the application day (after its midnight): not known at decision time.
        _trade(8, 1, "2021-01-04 10:00", "CCC", "sell", 10, 110.0, 100),
    ]
    flows = [
        {
            "customer_id": 1,
            "timestamp": pd.Timestamp("2020-01-02 09:00"),
            "kind": "deposit",
            "amount_minor": 500_000,
        },
        {
            "customer_id": 1,
            "timestamp": pd.Timestamp("2020-12-20 09:00"),
            "kind": "withdrawal",
            "amount_minor": 100_000,
        },
        {
            "customer_id": 1,
            "timestamp": pd.Timestamp("2021-01-05 09:00"),
            "kind": "deposit",
            "amount_minor": 999_999,
        },
    ]
    applications = [
        {
            "application_id": 101,
            "customer_id": 1,
            "application_date": pd.Timestamp("2021-01-04"),
            "requested_line_minor": 400_000,
            "platform_assets_minor": 200_000,
            "avg_daily_assets_20d_minor": 190_000,
        },
        {
            "application_id": 102,
            "customer_id": 2,
            "application_date": pd.Timestamp("2021-02-01"),
            "requested_line_minor": 100_000,
            "platform_assets_minor": 0,
            "avg_daily_assets_20d_minor": 0,
        },
    ]
    return {
        "customers": typed("customers", [_customer(1, "2020-01-01"), _customer(2, "2021-01-15", "student")]),
        "bureau": typed(
            "bureau", [_bureau(1), {**_bureau(2), "open_accounts": 1, "oldest_account_months": 30}]
        ),
        "trades": typed("trades", trades),
        "cash_flows": typed("cash_flows", flows),
        "applications": typed("applications", applications),
        "instruments": instruments(),
    }


def random_population(n_customers: int, seed: int) -> dict[str, pd.DataFrame]:
    """Random but valid raw tables (positions never negative, every key unique)."""
    rng = np.random.default_rng(seed)
    customers, bureau, applications, trades, flows = [], [], [], [], []
    trade_id = 0
    for cid in range(1, n_customers + 1):
        opened = pd.Timestamp("2018-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))
        app_date = opened + pd.Timedelta(days=int(rng.integers(1, 900)))
        customer = _customer(
            cid, str(opened), str(rng.choice(["employed", "retired", "student", "self_employed"]))
        )
        customer["age"] = int(rng.integers(18, 90))
        customer["annual_income_minor"] = int(rng.integers(0, 10**9))
        customers.append(customer)
        bureau.append({**_bureau(cid), "bureau_score": int(rng.integers(300, 851))})
        applications.append(
            {
                "application_id": 10_000 + cid,
                "customer_id": cid,
                "application_date": app_date,
                "requested_line_minor": int(rng.integers(10_000, 10**8)),
                "platform_assets_minor": int(rng.integers(0, 10**8)),
                "avg_daily_assets_20d_minor": 0,
            }
        )
        applications[-1]["avg_daily_assets_20d_minor"] = applications[-1]["platform_assets_minor"]
        held: dict[str, int] = {}
        span_s = int((app_date - opened).total_seconds()) + 40 * 86_400  # some events land after
        times = np.sort(rng.integers(0, span_s, int(rng.integers(0, 25))))
        if len(times) > 3:
            times[2] = times[1]  # an equal timestamp: trade_id breaks the tie
        for offset in times:
            ticker = str(rng.choice(TICKERS[:4] if rng.random() < 0.8 else TICKERS))
            have = held.get(ticker, 0)
            if have > 0 and rng.random() < 0.5:
                qty = have if rng.random() < 0.6 else int(rng.integers(1, have + 1))
                side = "sell"
            else:
                qty, side = int(rng.integers(1, 500)), "buy"
            held[ticker] = have + (qty if side == "buy" else -qty)
            trade_id += 1
            trades.append(
                _trade(
                    trade_id,
                    cid,
                    str(opened + pd.Timedelta(seconds=int(offset))),
                    ticker,
                    side,
                    qty,
                    round(float(rng.uniform(1, 300)), 4),
                    int(rng.integers(0, 500)),
                )
            )
        for offset in np.sort(rng.integers(0, span_s, int(rng.integers(0, 6)))):
            flows.append(
                {
                    "customer_id": cid,
                    "timestamp": opened + pd.Timedelta(seconds=int(offset)),
                    "kind": "deposit" if rng.random() < 0.7 else "withdrawal",
                    "amount_minor": int(rng.integers(1, 10**7)),
                }
            )
    trade_frame = typed("trades", trades)
    # Shuffle: the builders must not rely on the input order.
    trade_frame = trade_frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return {
        "customers": typed("customers", customers),
        "bureau": typed("bureau", bureau),
        "trades": trade_frame,
        "cash_flows": typed("cash_flows", flows),
        "applications": typed("applications", applications),
        "instruments": instruments(),
    }
