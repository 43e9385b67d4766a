"""Synthetic margin-lending population: the embedded default data.

No public data set has KYC + bureau + trading behaviour + margin outcomes, so this module
makes one whose causal structure is written down here and tested in
``tests/features/test_synthetic.py``.

Causal structure (arrows are the only ways information flows):

1. A latent creditworthiness ``z ~ N(0, 1)`` per customer (never written out).
   - Bureau: score rises with z; delinquencies (24 m), inquiries (6 m), utilisation and
     debt-to-income fall with z; a recent bureau default is rare and likelier for low z.
   - KYC: income and net worth rise with z; unemployment is likelier for low z; region is
     independent of everything (a model should find nothing in it).
2. A trading style per customer: turnover, concentration, appetite for volatile names and
   for leverage. Styles are mildly correlated with low z (rho = 0.35, "gamblers"), otherwise
   independent. Style drives the cash-account trading history (number of round trips,
   holding period, how many names, which names) and the draw on the margin line.
3. Applications: one per customer, on a trading day between ``first_application`` and one
   year before the end of the price data. The trading history covers 3 to 36 months
   strictly before that day; features may use only that.
4. Outcomes over the 12 months (252 trading days) after the application, by running the
   margin account through the real price paths of the customer's basket:
   - the customer draws part of the line at once (leverage appetite) and more later
     (credit-conversion propensity, higher for low z), the loan buys the basket;
   - maintenance ratio = (securities + cash) / (loan + accrued interest), regime ``cn``:
     a call below 130 %, met (top-up to 150 % the next day) with a probability that rises
     with z and with liquid assets outside the platform, else forced liquidation at the
     deadline two trading days later;
   - a credit event (stops paying) with a 12-month probability driven by low z, high
     debt-to-income and unemployment, raised in cohorts whose next 12 months hold a market
     crash (an economy effect no application-time feature can see);
   - default = credit event, or an unmet margin call (forced liquidation); at default the
     collateral is sold with slippage (larger on gap days), the loss is the uncovered debt
     net of what collection recovers, plus a workout cost. So LGD is mostly small, with a
     long tail from gap moves and concentrated, volatile holdings.
   Everything in ``outcomes`` is dated strictly after the application date.

Prices are the real S&P 500 paths (``../shared/datasets/sp500_prices``) when present, the
documented simulation in ``features.prices.simulate_panel`` otherwise.

Determinism and scale: customers are made in fixed chunks of ``CHUNK_SIZE``, each with its
own random stream ``SeedSequence([seed, chunk])``, and appended to the parquet files chunk
by chunk, so memory is bounded by one chunk whatever N is and the same seed gives
byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from creditdesk.errors import InputError
from features.prices import PricePanel, load_price_panel
from features.schemas import EMPLOYMENT, REGIONS, TABLES

CHUNK_SIZE = 10_000  # fixed: part of the determinism contract (changing it changes the data)
MAX_CUSTOMERS = 20_000_000
MAX_ROUND_TRIPS = 60  # per customer, bounds the trades table
BASKET_MAX = 8  # names per customer
HORIZON_DAYS = 252  # 12 months of trading days
HISTORY_MONTHS = (3, 36)
TRADING_DAYS_PER_MONTH = 21
OUTPUT_TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "outcomes")


@dataclass(frozen=True)
class PopulationConfig:
    """Levels of the synthetic world; every field is a documented, configurable knob."""

    credit_event_rate: float = 0.010  # mean 12-month credit-event probability in calm markets
    crash_sensitivity: float = 3.0  # logit uplift per unit of 12-month market fall
    first_application: str = "2004-01-02"
    call_ratio: float = 1.30  # cn: liquidation line
    topup_ratio: float = 1.50  # cn: top-up target (also the warning line)
    call_deadline_days: int = 2
    loan_rate_annual: float = 0.08
    workout_cost_share: float = 0.01  # of the debt at default
    workout_cost_fixed: float = 150.0  # per defaulted account (legal, collection), in currency units
    collection_recovery_share: float = 0.30  # of an uncovered shortfall
    style_z_correlation: float = 0.35


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class _Market:
    """Arrays derived once from the price panel and shared by every chunk."""

    dates: np.ndarray
    tickers: np.ndarray
    close: np.ndarray
    returns: np.ndarray
    vol_score: np.ndarray  # standardised volatility per ticker (pre-sample)
    market_fwd_fall: np.ndarray  # per day: max(0, -(12-month forward equal-weight return))
    first_app_idx: int
    last_app_idx: int


def _prepare_market(panel: PricePanel, config: PopulationConfig) -> _Market:
    returns = panel.returns
    first_app_idx = int(np.searchsorted(panel.dates, np.datetime64(pd.Timestamp(config.first_application))))
    history_days = HISTORY_MONTHS[1] * TRADING_DAYS_PER_MONTH
    first_app_idx = max(first_app_idx, history_days + 1)
    last_app_idx = len(panel.dates) - HORIZON_DAYS - 2
    if last_app_idx <= first_app_idx:
        raise InputError(f"{panel.source} prices are too short for {HORIZON_DAYS}-day outcomes")
    # Volatility measured only on days before the first application: no look-ahead.
    pre = returns[1:first_app_idx]
    vol = pre.std(axis=0) * np.sqrt(252.0)
    vol_score = (vol - vol.mean()) / (vol.std() + 1e-12)
    ew = panel.close / panel.close[0]
    ew_index = ew.mean(axis=1)
    fwd = np.zeros(len(panel.dates))
    fwd[:-HORIZON_DAYS] = ew_index[HORIZON_DAYS:] / ew_index[:-HORIZON_DAYS] - 1.0
    return _Market(
        dates=panel.dates,
        tickers=panel.tickers,
        close=panel.close,
        returns=returns,
        vol_score=vol_score,
        market_fwd_fall=np.maximum(0.0, -fwd),
        first_app_idx=first_app_idx,
        last_app_idx=last_app_idx,
    )


def instruments_table(panel: PricePanel, config: PopulationConfig) -> pd.DataFrame:
    """Instrument master as known before the first application (volatility, ADV)."""
    market = _prepare_market(panel, config)
    pre = slice(1, market.first_app_idx)
    vol = market.returns[pre].std(axis=0) * np.sqrt(252.0)
    adv = panel.volume[pre].mean(axis=0)
    return pd.DataFrame(
        {
            "ticker": pd.array(panel.tickers, dtype="string"),
            "sector": pd.array(panel.sectors, dtype="string"),
            "volatility_annual": vol.round(6),
            "adv_shares": adv.round(1),
            "volatile": vol >= np.quantile(vol, 0.8),
        }
    )


def prices_table(panel: PricePanel) -> pd.DataFrame:
    n_days, n_tickers = panel.close.shape
    return pd.DataFrame(
        {
            "date": np.repeat(panel.dates, n_tickers),
            "ticker": pd.array(np.tile(panel.tickers, n_days), dtype="string"),
            "close": panel.close.ravel().round(4),
            "volume": panel.volume.ravel(),
        }
    )


def _credit_event_intercept(config: PopulationConfig) -> float:
    """Intercept that makes the calm-market mean credit-event probability hit the target.

    Solved once on a fixed reference sample (seeded independently of the user's seed) so
    the level does not wobble with N or the seed.
    """
    rng = np.random.default_rng(20240601)
    z = rng.standard_normal(200_000)
    dti_noise = rng.standard_normal(200_000)
    unemployed = rng.random(200_000) < _sigmoid(-3.2 - 0.8 * z)
    score = _credit_event_score(z, _debt_to_income(z, dti_noise), unemployed)
    lo, hi = -15.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if _sigmoid(mid + score).mean() > config.credit_event_rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2.0


def _debt_to_income(z: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.clip(np.exp(np.log(0.28) - 0.25 * z + 0.45 * noise), 0.0, 3.0)


def _credit_event_score(z: np.ndarray, dti: np.ndarray, unemployed: np.ndarray) -> np.ndarray:
    return -1.05 * z + 0.6 * np.log(dti / 0.28) + 0.7 * unemployed


def _chunk(
    chunk_index: int,
    n: int,
    seed: int,
    market: _Market,
    config: PopulationConfig,
    intercept: float,
) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
    customer_id = np.arange(n, dtype=np.int64) + chunk_index * CHUNK_SIZE + 1
    dates = market.dates

    # 1. latent creditworthiness and trading style
    z = rng.standard_normal(n)
    rho = config.style_z_correlation
    style = -rho * z[:, None] + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, 4))
    s_turnover, s_concentration, s_volatile, s_leverage = style.T

    # 2. application date and history
    app_idx = rng.integers(market.first_app_idx, market.last_app_idx + 1, n)
    history_months = rng.integers(HISTORY_MONTHS[0], HISTORY_MONTHS[1] + 1, n)
    history_days = history_months * TRADING_DAYS_PER_MONTH
    open_idx = app_idx - history_days

    # 3. KYC
    age = np.clip(np.round(20 + 55 * rng.beta(2.0, 3.2, n) + 2.0 * z), 18, 85).astype(np.int16)
    age[rng.random(n) < 0.002] = 17  # data-entry cases the knock-outs must catch
    unemployed = rng.random(n) < _sigmoid(-3.2 - 0.8 * z)
    retired = (age >= 62) & (rng.random(n) < 0.75) & ~unemployed
    student = (age < 25) & (rng.random(n) < 0.35) & ~unemployed & ~retired
    self_employed = ~(unemployed | retired | student) & (rng.random(n) < 0.15)
    employment = np.full(n, "employed", dtype=object)
    employment[self_employed] = "self_employed"
    employment[student] = "student"
    employment[retired] = "retired"
    employment[unemployed] = "unemployed"
    income_factor = np.where(
        unemployed, 0.15, np.where(student, 0.3, np.where(retired, 0.55, np.where(self_employed, 1.1, 1.0)))
    )
    income = np.exp(11.0 + 0.35 * z + 0.012 * (np.minimum(age, 60) - 40) + 0.45 * rng.standard_normal(n))
    income = np.maximum(income * income_factor, 3_000.0)
    net_worth = income * np.exp(0.9 + 0.02 * (age - 40) + 0.3 * z + 0.7 * rng.standard_normal(n))
    liquid_outside = net_worth * rng.beta(2.0, 5.0, n)
    experience = np.minimum(rng.poisson(np.exp(1.3 + 0.015 * (age - 40) + 0.2 * s_turnover)), age - 16)
    experience = np.maximum(experience, 0).astype(np.int16)
    questionnaire = np.clip(
        np.round(50 + 14 * s_volatile + 10 * s_leverage + 10 * rng.standard_normal(n)), 0, 100
    ).astype(np.int16)
    region = np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n, p=[0.25, 0.2, 0.3, 0.15, 0.1])]
    identity_verified = rng.random(n) > 0.015
    is_pep = rng.random(n) < 0.005
    pep_reviewed = is_pep & (rng.random(n) < 0.6)
    sanctions_hit = rng.random(n) < 0.0005

    # 4. bureau
    bureau_score = np.clip(np.round(690 + 55 * (0.75 * z + 0.66 * rng.standard_normal(n))), 300, 850)
    delinquencies = np.minimum(rng.poisson(np.exp(-1.6 - 0.9 * z)), 30)
    inquiries = np.minimum(rng.poisson(np.exp(-0.2 - 0.35 * z + 0.2 * s_leverage)), 30)
    open_accounts = np.minimum(rng.poisson(2.0 + 0.06 * (age - 18) + 0.4 * np.maximum(z, -1)), 60)
    oldest_months = np.round(np.maximum(age - 18, 0) * 12 * rng.beta(3.0, 2.0, n))
    utilisation = np.clip(_sigmoid(-0.8 - 0.7 * z + 0.5 * rng.standard_normal(n)) * 1.1, 0.0, 1.5)
    dti = _debt_to_income(z, rng.standard_normal(n))
    bureau_default = rng.random(n) < _sigmoid(-5.3 - 1.3 * z)

    # 5. platform assets, the request and the basket
    equity = np.maximum(net_worth * rng.beta(2.0, 8.0, n), 2_000.0)
    request_share = np.clip(1.3 * _sigmoid(0.6 * s_leverage + 0.5 * rng.standard_normal(n)), 0.1, 1.5)
    requested_line = np.maximum(np.round(equity * request_share / 100.0) * 100.0, 500.0)
    n_names = np.clip(np.round(1 + 7 * _sigmoid(-1.6 * s_concentration + 0.5 * rng.standard_normal(n))), 1, 8)
    n_names = n_names.astype(np.int64)
    # Gumbel top-k: names drawn without replacement, tilted to volatile ones by appetite.
    n_tickers = len(market.tickers)
    scores = 1.6 * s_volatile[:, None] * market.vol_score[None, :] + rng.gumbel(size=(n, n_tickers))
    basket = np.argpartition(-scores, BASKET_MAX - 1, axis=1)[:, :BASKET_MAX]
    basket = np.take_along_axis(basket, np.argsort(np.take_along_axis(-scores, basket, 1), 1), 1)
    del scores
    raw_w = rng.gamma(np.exp(0.6 - 0.8 * s_concentration)[:, None], 1.0, (n, BASKET_MAX))
    raw_w[np.arange(BASKET_MAX)[None, :] >= n_names[:, None]] = 0.0
    weights = raw_w / raw_w.sum(axis=1, keepdims=True)

    # 6. trading history: round trips (buy, later sell unless still held at application),
    # then the portfolio held at the application date: one open buy per basket name in the
    # last two months. That portfolio is the collateral the margin account carries forward.
    trips_per_month = np.clip(np.exp(0.1 + 0.7 * s_turnover), 0.1, 20.0)
    n_trips = np.minimum(rng.poisson(trips_per_month * history_months), MAX_ROUND_TRIPS)
    per_owner = n_trips + n_names
    owner = np.repeat(np.arange(n), per_owner)
    m = len(owner)
    trip_no = np.arange(m) - np.repeat(np.cumsum(per_owner) - per_owner, per_owner)
    holding = trip_no >= n_trips[owner]
    cum_w = np.cumsum(weights, axis=1)[owner]
    random_slot = np.minimum((rng.random(m)[:, None] > cum_w).sum(axis=1), n_names[owner] - 1)
    slot = np.where(holding, trip_no - n_trips[owner], random_slot)
    ticker_idx = basket[owner, slot]
    recent = np.minimum(42, history_days[owner] - 1)
    buy_day = np.where(
        holding,
        app_idx[owner] - 1 - np.floor(rng.random(m) * recent).astype(np.int64),
        open_idx[owner] + np.floor(rng.random(m) * history_days[owner]).astype(np.int64),
    )
    mean_hold = np.clip(np.exp(3.0 - 0.9 * s_turnover), 1.0, 250.0)[owner]
    hold = np.maximum(1, np.ceil(rng.exponential(mean_hold))).astype(np.int64)
    sell_day = np.where(holding, app_idx[owner] + HORIZON_DAYS, buy_day + hold)
    closed = sell_day < app_idx[owner]
    notional = equity[owner] * weights[owner, slot] * np.where(holding, 0.9, rng.uniform(0.3, 1.0, m))
    buy_price = np.round(market.close[buy_day, ticker_idx] * (1 + 0.003 * rng.standard_normal(m)), 4)
    buy_price = np.maximum(buy_price, 0.0001)
    quantity = np.maximum(1, np.floor(notional / buy_price)).astype(np.int64)
    sell_day_c = np.minimum(sell_day, len(dates) - 1)
    sell_price = np.round(market.close[sell_day_c, ticker_idx] * (1 + 0.003 * rng.standard_normal(m)), 4)
    sell_price = np.maximum(sell_price, 0.0001)

    def fee(q: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.maximum(100, np.round(q * p * 100 * 0.0005)).astype(np.int64)  # 5 bp, min $1

    seconds = rng.integers(9 * 3600 + 1800, 16 * 3600, (m, 2))
    buys = pd.DataFrame(
        {
            "trade_id": customer_id[owner] * 1000 + 2 * trip_no,
            "customer_id": customer_id[owner],
            "timestamp": dates[buy_day] + seconds[:, 0].astype("timedelta64[s]"),
            "ticker": market.tickers[ticker_idx],
            "side": "buy",
            "quantity": quantity,
            "price": buy_price,
            "fees_minor": fee(quantity, buy_price),
        }
    )
    sells = pd.DataFrame(
        {
            "trade_id": customer_id[owner] * 1000 + 2 * trip_no + 1,
            "customer_id": customer_id[owner],
            "timestamp": dates[sell_day_c] + seconds[:, 1].astype("timedelta64[s]"),
            "ticker": market.tickers[ticker_idx],
            "side": "sell",
            "quantity": quantity,
            "price": sell_price,
            "fees_minor": fee(quantity, sell_price),
        }
    )[closed]
    trades = pd.concat([buys, sells], ignore_index=True)
    trades = _sorted(trades, "customer_id", "timestamp", "trade_id")

    # Holdings at the application date: round trips still open, valued at the previous close.
    held_value = np.bincount(
        owner[~closed],
        weights=quantity[~closed] * market.close[app_idx[owner[~closed]] - 1, ticker_idx[~closed]],
        minlength=n,
    )
    platform_assets = np.maximum(equity, held_value)

    # 7. cash flows: the opening deposit, then occasional deposits and withdrawals
    # (withdrawals likelier for low z: a liquidity-stress signal).
    n_extra = np.minimum(rng.poisson(0.3 * history_months), 40)
    cf_owner = np.repeat(np.arange(n), n_extra)
    k = len(cf_owner)
    cf_day = open_idx[cf_owner] + 1 + np.floor(rng.random(k) * (history_days[cf_owner] - 1)).astype(np.int64)
    withdrawal = rng.random(k) < _sigmoid(-0.4 - 0.6 * z[cf_owner])
    cf_amount = np.maximum(100, np.round(equity[cf_owner] * rng.uniform(0.02, 0.2, k) * 100)).astype(np.int64)
    cash_flows = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customer_id,
                    "timestamp": dates[open_idx] + np.timedelta64(9 * 3600, "s"),
                    "kind": "deposit",
                    "amount_minor": np.round(equity * 100).astype(np.int64),
                }
            ),
            pd.DataFrame(
                {
                    "customer_id": customer_id[cf_owner],
                    "timestamp": dates[cf_day]
                    + rng.integers(8 * 3600, 18 * 3600, k).astype("timedelta64[s]"),
                    "kind": np.where(withdrawal, "withdrawal", "deposit"),
                    "amount_minor": cf_amount,
                }
            ),
        ],
        ignore_index=True,
    )
    cash_flows = _sorted(cash_flows, "customer_id", "timestamp")

    # 8. the 12 months after the application: the margin account through real prices
    outcome = _simulate_margin(
        rng,
        app_idx,
        basket,
        weights,
        equity,
        requested_line,
        z,
        s_leverage,
        liquid_outside,
        dti,
        unemployed,
        market,
        config,
        intercept,
    )

    to_minor = lambda x: np.round(np.asarray(x) * 100).astype(np.int64)  # noqa: E731
    customers = pd.DataFrame(
        {
            "customer_id": customer_id,
            "age": age,
            "annual_income_minor": to_minor(np.round(income, -1)),
            "net_worth_minor": to_minor(np.round(net_worth, -2)),
            "liquid_assets_minor": to_minor(np.round(liquid_outside, -2)),
            "employment": employment,
            "investing_experience_years": experience,
            "risk_questionnaire_score": questionnaire,
            "region": region,
            "identity_verified": identity_verified,
            "is_pep": is_pep,
            "pep_reviewed": pep_reviewed,
            "sanctions_hit": sanctions_hit,
            "account_opened_date": dates[open_idx],
        }
    )
    bureau = pd.DataFrame(
        {
            "customer_id": customer_id,
            "bureau_score": bureau_score.astype(np.int16),
            "open_accounts": open_accounts.astype(np.int16),
            "credit_utilisation": utilisation.round(4),
            "delinquencies_24m": delinquencies.astype(np.int16),
            "inquiries_6m": inquiries.astype(np.int16),
            "oldest_account_months": oldest_months.astype(np.int16),
            "debt_to_income": dti.round(4),
            "bureau_default_24m": bureau_default,
        }
    )
    applications = pd.DataFrame(
        {
            "application_id": customer_id + 5_000_000_000,
            "customer_id": customer_id,
            "application_date": dates[app_idx],
            "requested_line_minor": to_minor(requested_line),
            "platform_assets_minor": to_minor(platform_assets),
        }
    )
    outcomes = pd.DataFrame(
        {
            "application_id": applications["application_id"].to_numpy(),
            "customer_id": customer_id,
            "default_12m": outcome["default"],
            "default_cause": outcome["cause"],
            "default_date": np.where(
                outcome["default"], dates[app_idx + outcome["default_day"]], np.datetime64("NaT")
            ).astype("datetime64[ns]"),
            "observation_end_date": dates[app_idx + HORIZON_DAYS],
            "credit_limit_minor": to_minor(requested_line),
            "drawn_at_open_minor": to_minor(outcome["drawn0"]),
            "exposure_at_default_minor": to_minor(outcome["ead"]),
            "loss_minor": to_minor(outcome["loss"]),
            "recovery_minor": to_minor(outcome["ead"]) - to_minor(outcome["loss"]),
            "margin_calls_12m": outcome["calls"].astype(np.int16),
            "liquidated": outcome["liquidated"],
        }
    )
    return {
        "customers": customers,
        "bureau": bureau,
        "trades": trades,
        "cash_flows": cash_flows,
        "applications": applications,
        "outcomes": outcomes,
    }


def _sorted(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """Stable sort on integer-like keys with numpy (pandas' multi-key sort factorises; slow)."""
    order = np.lexsort(tuple(frame[k].to_numpy().view(np.int64) for k in reversed(keys)))
    return frame.take(order).reset_index(drop=True)


def _simulate_margin(
    rng: np.random.Generator,
    app_idx: np.ndarray,
    basket: np.ndarray,
    weights: np.ndarray,
    equity: np.ndarray,
    line: np.ndarray,
    z: np.ndarray,
    s_leverage: np.ndarray,
    liquid_outside: np.ndarray,
    dti: np.ndarray,
    unemployed: np.ndarray,
    market: _Market,
    config: PopulationConfig,
    intercept: float,
) -> dict[str, np.ndarray]:
    """Run every account through its basket's next 252 trading days (vectorised over accounts)."""
    n = len(app_idx)
    days = np.arange(1, HORIZON_DAYS + 1)
    rows = app_idx[:, None] + days[None, :]  # (n, H)
    port_ret = np.zeros((n, HORIZON_DAYS))
    for k in range(BASKET_MAX):
        port_ret += weights[:, k : k + 1] * market.returns[rows, basket[:, k : k + 1]]
    port_ret = np.ascontiguousarray(port_ret.T)  # (day, account): each day's slice is contiguous
    del rows

    draw_share = np.clip(_sigmoid(1.2 + 1.5 * s_leverage + 0.5 * rng.standard_normal(n)), 0.05, 1.0)
    drawn0 = np.minimum(line * draw_share, equity)  # cn: at most 1 of loan per 1 of margin
    drawn0 = np.round(drawn0, 2)
    ccf_propensity = np.clip(_sigmoid(-1.5 - 0.6 * z + 0.5 * s_leverage + 0.5 * rng.standard_normal(n)), 0, 1)
    extra_total = ccf_propensity * (line - drawn0)
    p_meet = _sigmoid(0.8 + 0.9 * z + 0.3 * np.log1p(liquid_outside / np.maximum(drawn0, 1.0)))
    p_credit = _sigmoid(
        intercept
        + _credit_event_score(z, dti, unemployed)
        + config.crash_sensitivity * market.market_fwd_fall[app_idx]
    )
    credit_event = rng.random(n) < p_credit
    credit_day = np.where(credit_event, rng.integers(1, HORIZON_DAYS + 1, n), HORIZON_DAYS + 10)
    meet_draw = rng.random((n, 4))  # at most a few calls decide independently
    daily_rate = config.loan_rate_annual / 252.0

    securities = equity + drawn0
    cash = np.zeros(n)
    loan = drawn0.copy()
    interest = np.zeros(n)
    active = np.ones(n, dtype=bool)
    call_day = np.full(n, -1)
    call_met = np.zeros(n, dtype=bool)
    calls = np.zeros(n, dtype=np.int64)
    liquidated = np.zeros(n, dtype=bool)
    default = np.zeros(n, dtype=bool)
    cause = np.full(n, "none", dtype=object)
    default_day = np.zeros(n, dtype=np.int64)
    ead = np.zeros(n)
    loss = np.zeros(n)

    # Forced sales are staged: a concentrated or volatile basket is sold over several days
    # (at most a share of each day's liquidity), so it stays exposed to the market meanwhile.
    max_weight = weights.max(axis=1)
    basket_vol = np.abs(market.vol_score[basket] * weights).sum(axis=1)
    sell_days = (1 + (max_weight > 0.5) + (max_weight > 0.8) + (basket_vol > 1.0)).astype(np.int64)
    selling = np.zeros(n, dtype=bool)
    days_left = np.zeros(n, dtype=np.int64)

    def start_default(mask: np.ndarray, t: int, why: str) -> None:
        if not mask.any():
            return
        default[mask] = True
        cause[mask] = why
        default_day[mask] = t
        liquidated[mask] = True
        active[mask] = False  # no more draws; interest still accrues until the debt is settled
        selling[mask] = True
        days_left[mask] = sell_days[mask]

    def sell_step(t: int) -> None:
        """Sell 1/days_left of what is left at today's price, with slippage worse on gap days."""
        if not selling.any():
            return
        idx = np.flatnonzero(selling)
        gap = np.abs(port_ret[t - 1, idx])
        slippage = 0.004 + 0.5 * gap
        portion = securities[idx] / days_left[idx]
        cash[idx] += portion * (1.0 - slippage)
        securities[idx] -= portion
        days_left[idx] -= 1
        done = idx[days_left[idx] == 0]
        if len(done):
            debt = loan[done] + interest[done]
            shortfall = np.maximum(0.0, debt - cash[done])
            booked = (
                shortfall * (1.0 - config.collection_recovery_share)
                + config.workout_cost_share * debt
                + config.workout_cost_fixed
            )
            loss[done] = np.minimum(booked, debt)
            ead[done] = debt
            selling[done] = False

    for t in range(1, HORIZON_DAYS + 1):
        draw = np.where(active, extra_total / 126.0 * (t <= 126), 0.0)
        loan += draw
        securities = securities * (1.0 + port_ret[t - 1]) + draw
        interest += np.where(active | selling, loan * daily_rate, 0.0)
        sell_step(t)
        start_default(active & (credit_day == t), t, "credit_event")
        ratio = (securities + cash) / np.maximum(loan + interest, 1e-9)
        new_call = active & (call_day < 0) & (ratio < config.call_ratio)
        if new_call.any():
            calls[new_call] += 1
            call_day[new_call] = t
            draw_u = meet_draw[new_call, np.minimum(calls[new_call] - 1, 3)]
            call_met[new_call] = draw_u < p_meet[new_call]
        top_up = active & (call_day >= 0) & call_met & (t == call_day + 1)
        if top_up.any():
            need = config.topup_ratio * (loan[top_up] + interest[top_up]) - securities[top_up] - cash[top_up]
            cash[top_up] += np.maximum(need, 0.0)
            call_day[top_up] = -1
        unmet = active & (call_day >= 0) & ~call_met & (t >= call_day + config.call_deadline_days)
        start_default(unmet, t, "margin_shortfall")
    # Sales still running at the horizon are finished at its last close.
    days_left[selling] = 1
    sell_step(HORIZON_DAYS)

    drawn0_out = drawn0
    return {
        "default": default,
        "cause": cause,
        "default_day": default_day,
        "drawn0": drawn0_out,
        "ead": np.round(ead, 2),
        "loss": np.round(loss, 2),
        "calls": calls,
        "liquidated": liquidated,
    }


def _arrow_schema(table: str) -> pa.Schema:
    mapping = {
        "int64": pa.int64(),
        "int16": pa.int16(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "datetime64[ns]": pa.timestamp("ns"),
    }
    return pa.schema([(name, mapping[dtype]) for name, dtype in TABLES[table].items()])


def _to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    schema = _arrow_schema(table)
    arrays = [
        pa.array(frame[name].to_numpy(), type=field.type, from_pandas=True)
        for name, field in zip(schema.names, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _prepare_out_dir(out_dir: Path) -> Path:
    """A private temp dir beside ``out_dir`` (same filesystem, so the final move is a rename)."""
    parent = out_dir.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise InputError(f"--out {out_dir}: {blocker} is a file, not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"--out {out_dir}: exists and is not a directory")
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    except PermissionError as exc:
        raise InputError(f"--out {out_dir}: not writable ({exc.strerror})") from None
    except OSError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--out {out_dir}: cannot write there ({exc.strerror})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def generate_population(
    n_customers: int,
    seed: int,
    out_dir: Path,
    *,
    config: PopulationConfig | None = None,
    prices_path: Path | None = None,
    panel: PricePanel | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Write the population's parquet tables into ``out_dir`` and return its manifest.

    Tables are written to a temp dir beside ``out_dir`` and moved in only when complete,
    so an interrupted or failed run never leaves half a population behind.
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, int) or n_customers <= 0:
        raise InputError(f"--customers must be a positive integer, got {n_customers}", field="customers")
    if n_customers > MAX_CUSTOMERS:
        raise InputError(f"--customers must be at most {MAX_CUSTOMERS:,}, got {n_customers:,}")
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")
    config = config or PopulationConfig()
    out_dir = Path(out_dir)
    tmp = _prepare_out_dir(out_dir)
    try:
        if panel is None:
            panel = load_price_panel(prices_path, start="2001-01-01")
        market = _prepare_market(panel, config)
        intercept = _credit_event_intercept(config)
        writers = {t: pq.ParquetWriter(tmp / f"{t}.parquet", _arrow_schema(t)) for t in OUTPUT_TABLES}
        counts = dict.fromkeys(OUTPUT_TABLES, 0)
        n_chunks = -(-n_customers // CHUNK_SIZE)
        try:
            for c in range(n_chunks):
                size = min(CHUNK_SIZE, n_customers - c * CHUNK_SIZE)
                frames = _chunk(c, size, seed, market, config, intercept)
                for name, frame in frames.items():
                    writers[name].write_table(_to_arrow(frame, name))
                    counts[name] += len(frame)
                if on_progress is not None:
                    on_progress(c + 1, n_chunks)
        finally:
            for writer in writers.values():
                writer.close()
        pq.write_table(
            _to_arrow(instruments_table(panel, config), "instruments"), tmp / "instruments.parquet"
        )
        first_date = market.dates[
            max(market.first_app_idx - HISTORY_MONTHS[1] * TRADING_DAYS_PER_MONTH - 1, 0)
        ]
        used = panel.window(pd.Timestamp(first_date), pd.Timestamp(panel.dates[-1]))
        pq.write_table(_to_arrow(prices_table(used), "prices"), tmp / "prices.parquet")
        counts["instruments"] = len(panel.tickers)
        counts["prices"] = used.close.size
        files = sorted(p.name for p in tmp.glob("*.parquet"))
        manifest: dict[str, object] = {
            "generator": "creditdesk.features.synthetic",
            "customers": n_customers,
            "seed": seed,
            "chunk_size": CHUNK_SIZE,
            "price_source": panel.source,
            "config": asdict(config),
            "rows": counts,
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _move_into(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _move_into(tmp: Path, out_dir: Path) -> None:
    """Publish the finished tables: a rename when ``out_dir`` is new, else file by file."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    for path in sorted(tmp.iterdir()):
        os.replace(path, out_dir / path.name)
    tmp.rmdir()


def read_population(directory: Path) -> dict[str, pd.DataFrame]:
    """Read every table a population directory holds (a convenience for tests and jobs)."""
    directory = Path(directory)
    tables = {}
    for name in (*OUTPUT_TABLES, "instruments", "prices"):
        path = directory / f"{name}.parquet"
        if path.exists():
            tables[name] = pd.read_parquet(path)
    if not tables:
        raise InputError(f"{directory}: no population tables found")
    return tables


__all__ = [
    "CHUNK_SIZE",
    "EMPLOYMENT",
    "OUTPUT_TABLES",
    "PopulationConfig",
    "generate_population",
    "instruments_table",
    "read_population",
]
