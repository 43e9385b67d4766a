"""Synthetic margin-lending population: the embedded default data.

No public data set has KYC + bureau + trading behaviour + margin outcomes, so this module
makes one whose causal structure is written down here and tested in
``tests/features/test_synthetic.py``. Each step below is one named function, called in
this order by ``_chunk`` (the order of the random draws is part of the determinism
contract, so a step is never reordered without a new seed contract).

Causal structure (arrows are the only ways information flows):

1. A latent creditworthiness ``z ~ N(0, 1)`` per customer (never written out)
   (``_latent_and_style``).
   - KYC (``_kyc``): income and net worth rise with z; unemployment is likelier for low z;
     region is independent of everything (a model should find nothing in it).
   - Bureau (``_bureau``): score rises with z; delinquencies (24 m), inquiries (6 m),
     utilisation and debt-to-income fall with z; a recent bureau default is rare and
     likelier for low z.
2. A trading style per customer (``_latent_and_style``): turnover, concentration, appetite
   for volatile names and for leverage. Styles are mildly correlated with low z
   (rho = 0.35, "gamblers"), otherwise independent. Style drives the request and the basket
   (``_request_and_basket``), the cash-account trading history (``_round_trips``,
   ``_trades_table``: number of round trips, holding period, how many names, which names),
   the cash flows (``_cash_flows``) and the draw on the margin line.
3. Applications (``_application_timeline``): one per customer, on a trading day between
   ``first_application`` and one year before the end of the price data. The trading
   history covers 3 to 36 months strictly before that day; features may use only that.
4. Outcomes over the 12 months (252 trading days) after the application, by running the
   margin account through the real price paths of the customer's basket
   (``_simulate_margin``: ``_account_behaviour`` draws, then ``_MarginAccounts`` day by day):
   - the customer draws part of the line at once (leverage appetite) and more later
     (credit-conversion propensity, higher for low z), the loan buys the basket;
   - maintenance ratio = (securities + cash) / (loan + accrued interest), regime ``cn``:
     a call below 130 %, met (top-up to 150 % the next day) with a probability that rises
     with z and with liquid assets outside the platform, else forced liquidation at the
     deadline two trading days later;
   - a credit event (stops paying) with a 12-month probability driven by low z, high
     debt-to-income and unemployment, raised in cohorts whose next 12 months hold a market
     crash (an economy effect no application-time feature can see);
   - an unmet call ends in a forced liquidation: the collateral is sold with slippage
     (larger on gap days); a name closing at its cn limit-down price (±10 % main board,
     ±20 % ChiNext/STAR for the most volatile quintile) cannot be sold that day, so the sale
     rolls to the next one while the price keeps falling;
   - default (DESIGN.md) = a credit event, or a shortfall left by the forced sale and not
     paid within the cure period (90 calendar days past due; the same capacity to pay that
     meets calls cures it). A forced sale that repays the loan in full is NOT a default.
     After a credit event the collateral is sold too and the loss is the uncovered debt net
     of what collection recovers, plus a workout cost (LGD mostly small, with a long tail);
     a shortfall default's EAD is the unpaid shortfall at its default date, so its LGD is
     high. Interest accrues per calendar day, ACT/360 (``creditdesk.daycount``).
   Everything in ``outcomes`` is dated strictly after the application date.

Prices are the real S&P 500 paths (``../shared/datasets/sp500_prices``) when present, the
documented simulation in ``features.prices.simulate_panel`` otherwise.

Determinism and scale: customers are made in fixed chunks of ``CHUNK_SIZE``, each with its
own random stream ``SeedSequence([seed, chunk])`` (``population_chunks`` yields them one
at a time), so memory is bounded by one chunk whatever N is and the same seed gives
byte-identical tables. Writing them to disk (temp dir, manifest, atomic publish) is a
pipeline's job: ``pipelines/generate.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from creditdesk.errors import InputError
from features.prices import PricePanel
from features.schemas import EMPLOYMENT, REGIONS, TABLES

CHUNK_SIZE = 10_000  # fixed: part of the determinism contract (changing it changes the data)
MAX_CUSTOMERS = 20_000_000
MAX_ROUND_TRIPS = 60  # per customer, bounds the trades table
BASKET_MAX = 8  # names per customer
HORIZON_DAYS = 252  # 12 months of trading days
HISTORY_MONTHS = (3, 36)
ASSETS_WINDOW_DAYS = 20  # cn admission: average daily assets over the last 20 trading days
RELATED_PARTY_STREAM = 13  # spawn key of the related-party draws (SeedSequence([seed, chunk, 13]))
TRADING_DAYS_PER_MONTH = 21
OUTPUT_TABLES = ("customers", "bureau", "trades", "cash_flows", "applications", "outcomes")


@dataclass(frozen=True)
class PopulationConfig:
    """Levels of the synthetic world; every field is a documented, configurable knob."""

    # mean 12-month credit-event probability in calm markets: 2.5 % since issue 13, when forced
    # liquidations that repay stopped counting as defaults (DESIGN.md: "a few percent")
    credit_event_rate: float = 0.025
    crash_sensitivity: float = 4.5  # logit uplift per unit of 12-month market fall (3.0 before issue 13)
    first_application: str = "2004-01-02"
    call_ratio: float = 1.30  # cn: liquidation line
    topup_ratio: float = 1.50  # cn: top-up target (also the warning line)
    call_deadline_days: int = 2
    loan_rate_annual: float = 0.08
    workout_cost_share: float = 0.01  # of the debt at default
    workout_cost_fixed: float = 150.0  # per defaulted account (legal, collection), in currency units
    collection_recovery_share: float = 0.30  # of an uncovered shortfall
    style_z_correlation: float = 0.35
    # Default definition (DESIGN.md; Basel II para 452: 90 days past due): a shortfall left
    # unpaid this many calendar days after the liquidation that revealed it, or a credit event.
    cure_period_days: int = 90
    # cn daily price limits (SSE/SZSE trading rules): main board, and ChiNext/STAR for the
    # universe's most volatile quintile; a name at limit-down cannot be sold that day.
    price_limit_main: float = 0.10
    price_limit_growth: float = 0.20
    day_count: str = "ACT/360"  # interest per calendar day, CNY broker contracts
    # cn admission: brokers invite customers with ¥500,000 of average daily assets; a share of
    # applicants below it walk in anyway (and are knocked out by the cn policy).
    admission_assets: float = 500_000.0
    admitted_share: float = 0.92
    # cn admission also refuses the broker's related parties (shareholders ≥ 5 %, directors,
    # staff: CSRC margin-business measures art. 11). This share of applicants is one, drawn
    # from its own random stream (the other tables do not move) and independent of z.
    related_party_share: float = 0.01


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
    limited_returns: np.ndarray  # returns under the cn daily price limits (outcome simulation)
    locked: np.ndarray  # (day, ticker): closed at limit-down, cannot be sold that day
    calendar_days: np.ndarray  # per day: calendar days since the previous trading day (interest)


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
    limited_returns, locked = _price_limited(panel.close, vol >= np.quantile(vol, 0.8), config)
    gaps = np.diff(panel.dates).astype("timedelta64[D]").astype(np.int64)
    return _Market(
        dates=panel.dates,
        tickers=panel.tickers,
        close=panel.close,
        returns=returns,
        vol_score=vol_score,
        market_fwd_fall=np.maximum(0.0, -fwd),
        first_app_idx=first_app_idx,
        last_app_idx=last_app_idx,
        limited_returns=limited_returns,
        locked=locked,
        calendar_days=np.concatenate([[1], gaps]),
    )


def _price_limited(
    close: np.ndarray, growth_board: np.ndarray, config: PopulationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Daily returns under the cn price limits and the limit-down locks (shared
    ``creditdesk.price_limits.limit_path``): a gap beyond the limit is spread over several
    days, each one locked, so a forced sale waits while the price keeps falling."""
    from creditdesk.price_limits import limit_path

    limit = np.where(growth_board, config.price_limit_growth, config.price_limit_main)
    limited, locked = limit_path(close, limit)
    returns = np.zeros_like(limited)
    returns[1:] = limited[1:] / limited[:-1] - 1.0
    return returns, locked


def instruments_table(panel: PricePanel, config: PopulationConfig) -> pd.DataFrame:
    """Instrument master as known before the first application (volatility, ADV)."""
    market = _prepare_market(panel, config)
    pre = slice(1, market.first_app_idx)
    vol = market.returns[pre].std(axis=0) * np.sqrt(252.0)
    adv = panel.adjusted_volume[pre].mean(axis=0)  # shares on the prices' (adjusted) basis
    adv_money = panel.traded_money[pre].mean(axis=0)
    return pd.DataFrame(
        {
            "ticker": pd.array(panel.tickers, dtype="string"),
            "sector": pd.array(panel.sectors, dtype="string"),
            "volatility_annual": vol.round(6),
            "adv_shares": adv.round(1),
            "adv_money": adv_money.round(0),
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


def used_prices(panel: PricePanel, config: PopulationConfig) -> PricePanel:
    """The window of the panel a population needs: the longest history before the first application."""
    market = _prepare_market(panel, config)
    first_date = market.dates[max(market.first_app_idx - HISTORY_MONTHS[1] * TRADING_DAYS_PER_MONTH - 1, 0)]
    return panel.window(pd.Timestamp(first_date), pd.Timestamp(panel.dates[-1]))


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


def validate_request(n_customers: int, seed: int) -> None:
    """Refuse a population size or seed the generator cannot honour, before any work."""
    if isinstance(n_customers, bool) or not isinstance(n_customers, int) or n_customers <= 0:
        raise InputError(f"--customers must be a positive integer, got {n_customers}")
    if n_customers > MAX_CUSTOMERS:
        raise InputError(f"--customers must be at most {MAX_CUSTOMERS:,}, got {n_customers:,}")
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")


def chunk_count(n_customers: int) -> int:
    return -(-n_customers // CHUNK_SIZE)


def population_chunks(
    n_customers: int, seed: int, panel: PricePanel, config: PopulationConfig | None = None
) -> Iterator[dict[str, pd.DataFrame]]:
    """Yield the population's tables chunk by chunk (``OUTPUT_TABLES``, one frame each)."""
    validate_request(n_customers, seed)
    config = config or PopulationConfig()
    market = _prepare_market(panel, config)
    intercept = _credit_event_intercept(config)
    for c in range(chunk_count(n_customers)):
        size = min(CHUNK_SIZE, n_customers - c * CHUNK_SIZE)
        yield _chunk(c, size, seed, market, config, intercept)


def _chunk(
    chunk_index: int,
    n: int,
    seed: int,
    market: _Market,
    config: PopulationConfig,
    intercept: float,
) -> dict[str, pd.DataFrame]:
    """One chunk of customers: the causal steps of the module docstring, in draw order."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
    customer_id = np.arange(n, dtype=np.int64) + chunk_index * CHUNK_SIZE + 1
    latent = _latent_and_style(rng, n, config)
    timeline = _application_timeline(rng, n, market)
    kyc = _kyc(rng, latent)
    bureau = _bureau(rng, latent, kyc.age)
    basket = _request_and_basket(rng, latent, kyc.net_worth, market, config)
    trips = _round_trips(rng, latent, timeline, basket, market)
    trades = _trades_table(rng, customer_id, trips, market)
    platform_assets = _platform_assets(trips, timeline, basket.equity, market)
    avg_assets_20d = _avg_daily_assets(trips, timeline, basket.equity, market)
    cash_flows = _cash_flows(rng, customer_id, latent.z, timeline, basket.equity, market.dates)
    accounts = _Accounts(timeline.app_idx, basket, latent, kyc, bureau.dti)
    outcome = _simulate_margin(rng, accounts, market, config, intercept)
    applications = _applications_table(
        customer_id, timeline, basket.requested_line, (platform_assets, avg_assets_20d), market
    )
    related = _related_party(seed, chunk_index, n, config)
    return {
        "customers": _customers_table(customer_id, kyc, market.dates[timeline.open_idx], related),
        "bureau": _bureau_table(customer_id, bureau),
        "trades": trades,
        "cash_flows": cash_flows,
        "applications": applications,
        "outcomes": _outcomes_table(applications, timeline, basket.requested_line, outcome, market),
    }


@dataclass(frozen=True)
class _Latent:
    """Step 1 and 2: creditworthiness z and the four trading-style factors."""

    z: np.ndarray
    s_turnover: np.ndarray
    s_concentration: np.ndarray
    s_volatile: np.ndarray
    s_leverage: np.ndarray


def _latent_and_style(rng: np.random.Generator, n: int, config: PopulationConfig) -> _Latent:
    z = rng.standard_normal(n)
    rho = config.style_z_correlation
    style = -rho * z[:, None] + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, 4))
    s_turnover, s_concentration, s_volatile, s_leverage = style.T
    return _Latent(z, s_turnover, s_concentration, s_volatile, s_leverage)


@dataclass(frozen=True)
class _Timeline:
    """Step 3: the application day and the history window before it (price-panel indices)."""

    app_idx: np.ndarray
    history_months: np.ndarray
    history_days: np.ndarray
    open_idx: np.ndarray


def _application_timeline(rng: np.random.Generator, n: int, market: _Market) -> _Timeline:
    app_idx = rng.integers(market.first_app_idx, market.last_app_idx + 1, n)
    history_months = rng.integers(HISTORY_MONTHS[0], HISTORY_MONTHS[1] + 1, n)
    history_days = history_months * TRADING_DAYS_PER_MONTH
    return _Timeline(app_idx, history_months, history_days, app_idx - history_days)


@dataclass(frozen=True)
class _Kyc:
    age: np.ndarray
    unemployed: np.ndarray
    employment: np.ndarray
    income: np.ndarray
    net_worth: np.ndarray
    liquid_outside: np.ndarray
    experience: np.ndarray
    questionnaire: np.ndarray
    region: np.ndarray
    identity_verified: np.ndarray
    is_pep: np.ndarray
    pep_reviewed: np.ndarray
    sanctions_hit: np.ndarray


def _kyc(rng: np.random.Generator, latent: _Latent) -> _Kyc:
    """KYC answers: income and wealth rise with z, unemployment likelier for low z, region is noise."""
    z = latent.z
    n = len(z)
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
    experience = np.minimum(rng.poisson(np.exp(1.3 + 0.015 * (age - 40) + 0.2 * latent.s_turnover)), age - 16)
    experience = np.maximum(experience, 0).astype(np.int16)
    questionnaire = np.clip(
        np.round(50 + 14 * latent.s_volatile + 10 * latent.s_leverage + 10 * rng.standard_normal(n)), 0, 100
    ).astype(np.int16)
    region = np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n, p=[0.25, 0.2, 0.3, 0.15, 0.1])]
    identity_verified = rng.random(n) > 0.015
    is_pep = rng.random(n) < 0.005
    pep_reviewed = is_pep & (rng.random(n) < 0.6)
    sanctions_hit = rng.random(n) < 0.0005
    return _Kyc(
        age,
        unemployed,
        employment,
        income,
        net_worth,
        liquid_outside,
        experience,
        questionnaire,
        region,
        identity_verified,
        is_pep,
        pep_reviewed,
        sanctions_hit,
    )


@dataclass(frozen=True)
class _Bureau:
    bureau_score: np.ndarray
    delinquencies: np.ndarray
    inquiries: np.ndarray
    open_accounts: np.ndarray
    oldest_months: np.ndarray
    utilisation: np.ndarray
    dti: np.ndarray
    bureau_default: np.ndarray


def _bureau(rng: np.random.Generator, latent: _Latent, age: np.ndarray) -> _Bureau:
    """Bureau file: score rises with z; delinquencies, inquiries, utilisation and DTI fall with it."""
    z = latent.z
    n = len(z)
    bureau_score = np.clip(np.round(690 + 55 * (0.75 * z + 0.66 * rng.standard_normal(n))), 300, 850)
    delinquencies = np.minimum(rng.poisson(np.exp(-1.6 - 0.9 * z)), 30)
    inquiries = np.minimum(rng.poisson(np.exp(-0.2 - 0.35 * z + 0.2 * latent.s_leverage)), 30)
    open_accounts = np.minimum(rng.poisson(2.0 + 0.06 * (age - 18) + 0.4 * np.maximum(z, -1)), 60)
    oldest_months = np.round(np.maximum(age - 18, 0) * 12 * rng.beta(3.0, 2.0, n))
    utilisation = np.clip(_sigmoid(-0.8 - 0.7 * z + 0.5 * rng.standard_normal(n)) * 1.1, 0.0, 1.5)
    dti = _debt_to_income(z, rng.standard_normal(n))
    bureau_default = rng.random(n) < _sigmoid(-5.3 - 1.3 * z)
    return _Bureau(
        bureau_score, delinquencies, inquiries, open_accounts, oldest_months, utilisation, dti, bureau_default
    )


@dataclass(frozen=True)
class _Basket:
    """Platform equity, the requested line and the names held (slots sorted by score)."""

    equity: np.ndarray
    requested_line: np.ndarray
    n_names: np.ndarray
    basket: np.ndarray  # (n, BASKET_MAX) ticker indices
    weights: np.ndarray  # (n, BASKET_MAX), zero beyond n_names


def _request_and_basket(
    rng: np.random.Generator,
    latent: _Latent,
    net_worth: np.ndarray,
    market: _Market,
    config: PopulationConfig,
) -> _Basket:
    """Platform assets, the line requested (leverage appetite) and the basket (style-driven).

    cn brokers invite customers who meet the margin admission (¥500,000 of average daily
    assets): ``admitted_share`` of applicants hold at least that (more for the wealthy),
    the rest walk in below it.
    """
    n = len(latent.z)
    equity = np.maximum(net_worth * rng.beta(2.0, 8.0, n), 2_000.0)
    floor = config.admission_assets * np.exp(0.6 * np.abs(rng.standard_normal(n)))
    admitted = rng.random(n) < config.admitted_share
    equity = np.where(admitted, np.maximum(equity, floor), equity)
    request_share = np.clip(1.3 * _sigmoid(0.6 * latent.s_leverage + 0.5 * rng.standard_normal(n)), 0.1, 1.5)
    requested_line = np.maximum(np.round(equity * request_share / 100.0) * 100.0, 500.0)
    n_names = np.clip(
        np.round(1 + 7 * _sigmoid(-1.6 * latent.s_concentration + 0.5 * rng.standard_normal(n))), 1, 8
    )
    n_names = n_names.astype(np.int64)
    # Gumbel top-k: names drawn without replacement, tilted to volatile ones by appetite.
    n_tickers = len(market.tickers)
    scores = 1.6 * latent.s_volatile[:, None] * market.vol_score[None, :] + rng.gumbel(size=(n, n_tickers))
    basket = np.argpartition(-scores, BASKET_MAX - 1, axis=1)[:, :BASKET_MAX]
    basket = np.take_along_axis(basket, np.argsort(np.take_along_axis(-scores, basket, 1), 1), 1)
    del scores
    raw_w = rng.gamma(np.exp(0.6 - 0.8 * latent.s_concentration)[:, None], 1.0, (n, BASKET_MAX))
    raw_w[np.arange(BASKET_MAX)[None, :] >= n_names[:, None]] = 0.0
    weights = raw_w / raw_w.sum(axis=1, keepdims=True)
    return _Basket(equity, requested_line, n_names, basket, weights)


@dataclass(frozen=True)
class _Trips:
    """Round trips, one row per trip (sells of still-open trips are beyond the application)."""

    owner: np.ndarray  # row of the chunk's customer
    trip_no: np.ndarray
    ticker_idx: np.ndarray
    buy_day: np.ndarray
    sell_day: np.ndarray  # clipped to the last price day
    closed: np.ndarray  # sold before the application date
    quantity: np.ndarray
    buy_price: np.ndarray
    sell_price: np.ndarray


def _round_trips(
    rng: np.random.Generator, latent: _Latent, timeline: _Timeline, basket: _Basket, market: _Market
) -> _Trips:
    """Trading history: round trips (buy, later sell unless still held at application).

    Then the portfolio held at the application date: one open buy per basket name in the
    last two months. That portfolio is the collateral the margin account carries forward.
    """
    app_idx, history_days = timeline.app_idx, timeline.history_days
    n_names, weights, equity = basket.n_names, basket.weights, basket.equity
    s_turnover = latent.s_turnover
    trips_per_month = np.clip(np.exp(0.1 + 0.7 * s_turnover), 0.1, 20.0)
    n_trips = np.minimum(rng.poisson(trips_per_month * timeline.history_months), MAX_ROUND_TRIPS)
    per_owner = n_trips + n_names
    owner = np.repeat(np.arange(len(app_idx)), per_owner)
    m = len(owner)
    trip_no = np.arange(m) - np.repeat(np.cumsum(per_owner) - per_owner, per_owner)
    holding = trip_no >= n_trips[owner]
    cum_w = np.cumsum(weights, axis=1)[owner]
    random_slot = np.minimum((rng.random(m)[:, None] > cum_w).sum(axis=1), n_names[owner] - 1)
    slot = np.where(holding, trip_no - n_trips[owner], random_slot)
    ticker_idx = basket.basket[owner, slot]
    recent = np.minimum(42, history_days[owner] - 1)
    buy_day = np.where(
        holding,
        app_idx[owner] - 1 - np.floor(rng.random(m) * recent).astype(np.int64),
        timeline.open_idx[owner] + np.floor(rng.random(m) * history_days[owner]).astype(np.int64),
    )
    mean_hold = np.clip(np.exp(3.0 - 0.9 * s_turnover), 1.0, 250.0)[owner]
    hold = np.maximum(1, np.ceil(rng.exponential(mean_hold))).astype(np.int64)
    sell_day = np.where(holding, app_idx[owner] + HORIZON_DAYS, buy_day + hold)
    closed = sell_day < app_idx[owner]
    notional = equity[owner] * weights[owner, slot] * np.where(holding, 0.9, rng.uniform(0.3, 1.0, m))
    buy_price = np.round(market.close[buy_day, ticker_idx] * (1 + 0.003 * rng.standard_normal(m)), 4)
    buy_price = np.maximum(buy_price, 0.0001)
    quantity = np.maximum(1, np.floor(notional / buy_price)).astype(np.int64)
    sell_day_c = np.minimum(sell_day, len(market.dates) - 1)
    sell_price = np.round(market.close[sell_day_c, ticker_idx] * (1 + 0.003 * rng.standard_normal(m)), 4)
    sell_price = np.maximum(sell_price, 0.0001)
    return _Trips(owner, trip_no, ticker_idx, buy_day, sell_day_c, closed, quantity, buy_price, sell_price)


def _fee_minor(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.maximum(100, np.round(q * p * 100 * 0.0005)).astype(np.int64)  # 5 bp, min $1


def _trades_table(
    rng: np.random.Generator, customer_id: np.ndarray, trips: _Trips, market: _Market
) -> pd.DataFrame:
    """Buys and (closed trips') sells with intraday timestamps, sorted per customer in time."""
    dates = market.dates
    seconds = rng.integers(9 * 3600 + 1800, 16 * 3600, (len(trips.owner), 2))
    ids = customer_id[trips.owner]
    buys = pd.DataFrame(
        {
            "trade_id": ids * 1000 + 2 * trips.trip_no,
            "customer_id": ids,
            "timestamp": dates[trips.buy_day] + seconds[:, 0].astype("timedelta64[s]"),
            "ticker": market.tickers[trips.ticker_idx],
            "side": "buy",
            "quantity": trips.quantity,
            "price": trips.buy_price,
            "fees_minor": _fee_minor(trips.quantity, trips.buy_price),
        }
    )
    sells = pd.DataFrame(
        {
            "trade_id": ids * 1000 + 2 * trips.trip_no + 1,
            "customer_id": ids,
            "timestamp": dates[trips.sell_day] + seconds[:, 1].astype("timedelta64[s]"),
            "ticker": market.tickers[trips.ticker_idx],
            "side": "sell",
            "quantity": trips.quantity,
            "price": trips.sell_price,
            "fees_minor": _fee_minor(trips.quantity, trips.sell_price),
        }
    )[trips.closed]
    trades = pd.concat([buys, sells], ignore_index=True)
    return _sorted(trades, "customer_id", "timestamp", "trade_id")


def _platform_assets(trips: _Trips, timeline: _Timeline, equity: np.ndarray, market: _Market) -> np.ndarray:
    """Holdings at the application date: round trips still open, valued at the previous close."""
    still_open = ~trips.closed
    held_value = np.bincount(
        trips.owner[still_open],
        weights=trips.quantity[still_open]
        * market.close[timeline.app_idx[trips.owner[still_open]] - 1, trips.ticker_idx[still_open]],
        minlength=len(equity),
    )
    return np.maximum(equity, held_value)


def _avg_daily_assets(trips: _Trips, timeline: _Timeline, equity: np.ndarray, market: _Market) -> np.ndarray:
    """Average daily assets over the last ``ASSETS_WINDOW_DAYS`` trading days before the
    application, each day valued like ``_platform_assets`` (holdings at that day's close, at
    least the equity): the cn admission's ¥500,000 test (CSRC margin-business measures art. 11).

    A trip is held at the close of day d when bought on or before d and sold after d.
    """
    n = len(equity)
    total = np.zeros(n)
    for back in range(1, ASSETS_WINDOW_DAYS + 1):
        day = timeline.app_idx[trips.owner] - back
        held = (trips.buy_day <= day) & (day < trips.sell_day)  # open trips sell after the application
        value = trips.quantity[held] * market.close[day[held], trips.ticker_idx[held]]
        total += np.maximum(equity, np.bincount(trips.owner[held], weights=value, minlength=n))
    return total / ASSETS_WINDOW_DAYS


def _related_party(seed: int, chunk_index: int, n: int, config: PopulationConfig) -> np.ndarray:
    """Related parties of the broker: their own stream, so no other draw of the chunk moves."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index, RELATED_PARTY_STREAM]))
    return rng.random(n) < config.related_party_share


def _cash_flows(
    rng: np.random.Generator,
    customer_id: np.ndarray,
    z: np.ndarray,
    timeline: _Timeline,
    equity: np.ndarray,
    dates: np.ndarray,
) -> pd.DataFrame:
    """The opening deposit, then occasional deposits and withdrawals.

    Withdrawals are likelier for low z: a liquidity-stress signal.
    """
    n = len(z)
    open_idx, history_days = timeline.open_idx, timeline.history_days
    n_extra = np.minimum(rng.poisson(0.3 * timeline.history_months), 40)
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
    return _sorted(cash_flows, "customer_id", "timestamp")


def _to_minor(x: np.ndarray | pd.Series) -> np.ndarray:
    return np.round(np.asarray(x) * 100).astype(np.int64)


def _customers_table(
    customer_id: np.ndarray, kyc: _Kyc, opened: np.ndarray, related_party: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "age": kyc.age,
            "annual_income_minor": _to_minor(np.round(kyc.income, -1)),
            "net_worth_minor": _to_minor(np.round(kyc.net_worth, -2)),
            "liquid_assets_minor": _to_minor(np.round(kyc.liquid_outside, -2)),
            "employment": kyc.employment,
            "investing_experience_years": kyc.experience,
            "risk_questionnaire_score": kyc.questionnaire,
            "region": kyc.region,
            "identity_verified": kyc.identity_verified,
            "is_pep": kyc.is_pep,
            "pep_reviewed": kyc.pep_reviewed,
            "sanctions_hit": kyc.sanctions_hit,
            "account_opened_date": opened,
            "related_party": related_party,
        }
    )


def _bureau_table(customer_id: np.ndarray, bureau: _Bureau) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "bureau_score": bureau.bureau_score.astype(np.int16),
            "open_accounts": bureau.open_accounts.astype(np.int16),
            "credit_utilisation": bureau.utilisation.round(4),
            "delinquencies_24m": bureau.delinquencies.astype(np.int16),
            "inquiries_6m": bureau.inquiries.astype(np.int16),
            "oldest_account_months": bureau.oldest_months.astype(np.int16),
            "debt_to_income": bureau.dti.round(4),
            "bureau_default_24m": bureau.bureau_default,
        }
    )


def _applications_table(
    customer_id: np.ndarray,
    timeline: _Timeline,
    requested_line: np.ndarray,
    assets: tuple[np.ndarray, np.ndarray],
    market: _Market,
) -> pd.DataFrame:
    platform_assets, avg_assets_20d = assets
    return pd.DataFrame(
        {
            "application_id": customer_id + 5_000_000_000,
            "customer_id": customer_id,
            "application_date": market.dates[timeline.app_idx],
            "requested_line_minor": _to_minor(requested_line),
            "platform_assets_minor": _to_minor(platform_assets),
            "avg_daily_assets_20d_minor": _to_minor(avg_assets_20d),
        }
    )


def _outcomes_table(
    applications: pd.DataFrame,
    timeline: _Timeline,
    requested_line: np.ndarray,
    outcome: dict[str, np.ndarray],
    market: _Market,
) -> pd.DataFrame:
    dates, app_idx = market.dates, timeline.app_idx
    return pd.DataFrame(
        {
            "application_id": applications["application_id"].to_numpy(),
            "customer_id": applications["customer_id"].to_numpy(),
            "default_12m": outcome["default"],
            "default_cause": outcome["cause"],
            "default_date": np.where(
                outcome["default"], dates[app_idx + outcome["default_day"]], np.datetime64("NaT")
            ).astype("datetime64[ns]"),
            "observation_end_date": dates[app_idx + HORIZON_DAYS],
            "credit_limit_minor": _to_minor(requested_line),
            "drawn_at_open_minor": _to_minor(outcome["drawn0"]),
            "exposure_at_default_minor": _to_minor(outcome["ead"]),
            "loss_minor": _to_minor(outcome["loss"]),
            "recovery_minor": _to_minor(outcome["ead"]) - _to_minor(outcome["loss"]),
            "margin_calls_12m": outcome["calls"].astype(np.int16),
            "liquidated": outcome["liquidated"],
        }
    )


def _sorted(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    """Stable sort on integer-like keys with numpy (pandas' multi-key sort factorises; slow)."""
    order = np.lexsort(tuple(frame[k].to_numpy().view(np.int64) for k in reversed(keys)))
    return frame.take(order).reset_index(drop=True)


def _portfolio_returns(
    app_idx: np.ndarray, basket: _Basket, market: _Market
) -> tuple[np.ndarray, np.ndarray]:
    """Daily basket returns under the price limits over the horizon, and the share of each
    basket locked at limit-down, both shaped (day, account) so each day is contiguous."""
    n = len(app_idx)
    days = np.arange(1, HORIZON_DAYS + 1)
    rows = app_idx[:, None] + days[None, :]  # (n, H)
    port_ret = np.zeros((n, HORIZON_DAYS))
    locked_share = np.zeros((n, HORIZON_DAYS))
    for k in range(BASKET_MAX):
        names, w = basket.basket[:, k : k + 1], basket.weights[:, k : k + 1]
        port_ret += w * market.limited_returns[rows, names]
        locked_share += w * market.locked[rows, names]
    return np.ascontiguousarray(port_ret.T), np.ascontiguousarray(locked_share.T)


@dataclass(frozen=True)
class _Behaviour:
    """What each customer will do, drawn up front: draws, call responses, the credit event day."""

    drawn0: np.ndarray
    extra_total: np.ndarray  # further draws spread over the first 126 days
    p_meet: np.ndarray
    credit_day: np.ndarray  # HORIZON_DAYS + 10 when there is no credit event
    meet_draw: np.ndarray  # (n, 4): uniforms deciding the first few calls
    cured: np.ndarray  # pays a post-liquidation shortfall within the cure period


@dataclass(frozen=True)
class _Accounts:
    """Who opens a margin account: what the behaviour draws and the day-by-day run both read."""

    app_idx: np.ndarray  # application day (index into the market's dates)
    basket: _Basket
    latent: _Latent
    kyc: _Kyc
    dti: np.ndarray


def _account_behaviour(
    rng: np.random.Generator,
    accounts: _Accounts,
    market: _Market,
    config: PopulationConfig,
    intercept: float,
) -> _Behaviour:
    app_idx, basket, latent, kyc = accounts.app_idx, accounts.basket, accounts.latent, accounts.kyc
    n = len(app_idx)
    z, s_leverage, line = latent.z, latent.s_leverage, basket.requested_line
    draw_share = np.clip(_sigmoid(1.2 + 1.5 * s_leverage + 0.5 * rng.standard_normal(n)), 0.05, 1.0)
    drawn0 = np.minimum(line * draw_share, basket.equity)  # cn: at most 1 of loan per 1 of margin
    drawn0 = np.round(drawn0, 2)
    ccf_propensity = np.clip(_sigmoid(-1.5 - 0.6 * z + 0.5 * s_leverage + 0.5 * rng.standard_normal(n)), 0, 1)
    extra_total = ccf_propensity * (line - drawn0)
    p_meet = _sigmoid(0.8 + 0.9 * z + 0.3 * np.log1p(kyc.liquid_outside / np.maximum(drawn0, 1.0)))
    p_credit = _sigmoid(
        intercept
        + _credit_event_score(z, accounts.dti, kyc.unemployed)
        + config.crash_sensitivity * market.market_fwd_fall[app_idx]
    )
    credit_event = rng.random(n) < p_credit
    credit_day = np.where(credit_event, rng.integers(1, HORIZON_DAYS + 1, n), HORIZON_DAYS + 10)
    meet_draw = rng.random((n, 4))  # at most a few calls decide independently
    cured = rng.random(n) < p_meet  # the same capacity to pay decides whether a shortfall is cured
    return _Behaviour(drawn0, extra_total, p_meet, credit_day, meet_draw, cured)


class _MarginAccounts:
    """The margin accounts' state, advanced one trading day at a time (vectorised over accounts).

    Forced sales are staged: a concentrated or volatile basket is sold over several days
    (at most a share of each day's liquidity), so it stays exposed to the market meanwhile;
    the part of a basket closing at limit-down cannot be sold that day and waits.
    Interest accrues per calendar day (ACT/360, ``creditdesk.daycount``), weekends included.

    Default (DESIGN.md): a credit event, or a shortfall left after a forced sale and not paid
    within ``cure_period_days``. A forced sale that repays the loan in full is a liquidation,
    not a default; the EAD of a shortfall default is what is owed at its default date.
    """

    def __init__(
        self,
        basket: _Basket,
        behaviour: _Behaviour,
        port_ret: np.ndarray,
        locked_share: np.ndarray,
        app_idx: np.ndarray,
        market: _Market,
        config: PopulationConfig,
    ) -> None:
        from creditdesk.daycount import year_fraction

        n = len(behaviour.drawn0)
        self.config = config
        self.behaviour = behaviour
        self.port_ret = port_ret
        self.locked_share = locked_share
        self.app_idx = app_idx
        self.dates = market.dates
        # (day, account): the year fraction of interest charged on each trading day's step
        steps = market.calendar_days[app_idx[None, :] + np.arange(1, HORIZON_DAYS + 1)[:, None]]
        self.accrual = config.loan_rate_annual * np.asarray(year_fraction(steps, config.day_count))
        self.securities = basket.equity + behaviour.drawn0
        self.cash = np.zeros(n)
        self.loan = behaviour.drawn0.copy()
        self.interest = np.zeros(n)
        self.active = np.ones(n, dtype=bool)
        self.call_day = np.full(n, -1)
        self.call_met = np.zeros(n, dtype=bool)
        self.calls = np.zeros(n, dtype=np.int64)
        self.liquidated = np.zeros(n, dtype=bool)
        self.default = np.zeros(n, dtype=bool)
        self.cause = np.full(n, "none", dtype=object)
        self.default_day = np.zeros(n, dtype=np.int64)
        self.ead = np.zeros(n)
        self.loss = np.zeros(n)
        max_weight = basket.weights.max(axis=1)
        basket_vol = np.abs(market.vol_score[basket.basket] * basket.weights).sum(axis=1)
        self.sell_days = (1 + (max_weight > 0.5) + (max_weight > 0.8) + (basket_vol > 1.0)).astype(np.int64)
        self.selling = np.zeros(n, dtype=bool)
        self.days_left = np.zeros(n, dtype=np.int64)

    def start_default(self, mask: np.ndarray, t: int, why: str) -> None:
        """Start selling the collateral: at once a default for a credit event; for a margin
        shortfall only a forced liquidation (``settle`` decides whether anything defaults)."""
        if not mask.any():
            return
        if why == "credit_event":
            self.default[mask] = True
            self.cause[mask] = why
            self.default_day[mask] = t
        self.liquidated[mask] = True
        self.active[mask] = False  # no more draws; interest still accrues until the debt is settled
        self.selling[mask] = True
        self.days_left[mask] = self.sell_days[mask]

    def sell_step(self, t: int) -> None:
        """Sell 1/days_left of what is left at today's price, with slippage worse on gap days."""
        if not self.selling.any():
            return
        idx = np.flatnonzero(self.selling)
        gap = np.abs(self.port_ret[t - 1, idx])
        slippage = 0.004 + 0.5 * gap
        sellable = 1.0 - (self.locked_share[t - 1, idx] if t < HORIZON_DAYS else 0.0)
        portion = self.securities[idx] / self.days_left[idx] * sellable
        self.cash[idx] += portion * (1.0 - slippage)
        self.securities[idx] -= portion
        self.days_left[idx] -= sellable >= 1.0  # a locked name rolls the sale to the next day
        done = idx[self.days_left[idx] == 0]
        if len(done):
            self.settle(done, t)

    def settle(self, done: np.ndarray, t: int) -> None:
        """Book EAD and loss once an account's collateral is sold.

        After a credit event: EAD = the debt at default. After a forced liquidation: a sale
        that covers the debt ends it; a shortfall the customer pays within the cure period
        too; an unpaid one defaults when the cure period ends (if that is within the 12
        months) with EAD = the shortfall plus the interest accrued on it meanwhile.
        """
        config = self.config
        self.selling[done] = False
        debt = self.loan[done] + self.interest[done]
        shortfall = np.maximum(0.0, debt - self.cash[done])
        credit = self.default[done]
        due = self.dates[self.app_idx[done] + t] + np.timedelta64(config.cure_period_days, "D")
        default_idx = np.searchsorted(self.dates, due) - self.app_idx[done]
        late = ~credit & (shortfall > 0.005) & ~self.behaviour.cured[done] & (default_idx <= HORIZON_DAYS)
        owed = shortfall * (1.0 + config.loan_rate_annual * config.cure_period_days / 360.0)
        ead = np.where(credit, debt, np.where(late, owed, 0.0))
        booked = (
            np.maximum(0.0, ead - np.where(credit, self.cash[done], 0.0))
            * (1.0 - config.collection_recovery_share)
            + config.workout_cost_share * ead
            + config.workout_cost_fixed
        )
        self.loss[done] = np.where(credit | late, np.minimum(booked, ead), 0.0)
        self.ead[done] = ead
        shortfall_default = done[late]
        self.default[shortfall_default] = True
        self.cause[shortfall_default] = "margin_shortfall"
        self.default_day[shortfall_default] = np.maximum(default_idx[late], t)

    def day(self, t: int) -> None:
        """One trading day: draw, mark, accrue, sell, credit events, calls, top-ups, liquidations."""
        b, config = self.behaviour, self.config
        draw = np.where(self.active, b.extra_total / 126.0 * (t <= 126), 0.0)
        self.loan += draw
        self.securities = self.securities * (1.0 + self.port_ret[t - 1]) + draw
        self.interest += np.where(self.active | self.selling, self.loan * self.accrual[t - 1], 0.0)
        self.sell_step(t)
        self.start_default(self.active & (b.credit_day == t), t, "credit_event")
        self.margin_calls(t)
        unmet = (
            self.active
            & (self.call_day >= 0)
            & ~self.call_met
            & (t >= self.call_day + config.call_deadline_days)
        )
        self.start_default(unmet, t, "margin_shortfall")

    def margin_calls(self, t: int) -> None:
        """Issue calls below the call line (decided by the up-front draws); meet them the next day."""
        b, config = self.behaviour, self.config
        loan, interest, call_day, calls = self.loan, self.interest, self.call_day, self.calls
        ratio = (self.securities + self.cash) / np.maximum(loan + interest, 1e-9)
        new_call = self.active & (call_day < 0) & (ratio < config.call_ratio)
        if new_call.any():
            calls[new_call] += 1
            call_day[new_call] = t
            draw_u = b.meet_draw[new_call, np.minimum(calls[new_call] - 1, 3)]
            self.call_met[new_call] = draw_u < b.p_meet[new_call]
        top_up = self.active & (call_day >= 0) & self.call_met & (t == call_day + 1)
        if top_up.any():
            need = (
                config.topup_ratio * (loan[top_up] + interest[top_up])
                - self.securities[top_up]
                - self.cash[top_up]
            )
            self.cash[top_up] += np.maximum(need, 0.0)
            call_day[top_up] = -1


def _simulate_margin(
    rng: np.random.Generator,
    accounts: _Accounts,
    market: _Market,
    config: PopulationConfig,
    intercept: float,
) -> dict[str, np.ndarray]:
    """Run every account through its basket's next 252 trading days (vectorised over accounts)."""
    app_idx, basket = accounts.app_idx, accounts.basket
    port_ret, locked_share = _portfolio_returns(app_idx, basket, market)
    behaviour = _account_behaviour(rng, accounts, market, config, intercept)
    book = _MarginAccounts(basket, behaviour, port_ret, locked_share, app_idx, market, config)
    for t in range(1, HORIZON_DAYS + 1):
        book.day(t)
    # Sales still running at the horizon are finished at its last close.
    book.days_left[book.selling] = 1
    book.sell_step(HORIZON_DAYS)
    return {
        "default": book.default,
        "cause": book.cause,
        "default_day": book.default_day,
        "drawn0": behaviour.drawn0,
        "ead": np.round(book.ead, 2),
        "loss": np.round(book.loss, 2),
        "calls": book.calls,
        "liquidated": book.liquidated,
    }


def arrow_schema(table: str) -> pa.Schema:
    """The parquet schema of a source table, from ``features.schemas.TABLES``."""
    mapping = {
        "int64": pa.int64(),
        "int16": pa.int16(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "datetime64[ns]": pa.timestamp("ns"),
    }
    return pa.schema([(name, mapping[dtype]) for name, dtype in TABLES[table].items()])


def to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    """``frame`` as an Arrow table with exactly the source schema's columns and types."""
    schema = arrow_schema(table)
    arrays = [
        pa.array(frame[name].to_numpy(), type=field.type, from_pandas=True)
        for name, field in zip(schema.names, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = [
    "CHUNK_SIZE",
    "EMPLOYMENT",
    "MAX_CUSTOMERS",
    "OUTPUT_TABLES",
    "PopulationConfig",
    "arrow_schema",
    "chunk_count",
    "instruments_table",
    "population_chunks",
    "prices_table",
    "to_arrow",
    "used_prices",
    "validate_request",
]
