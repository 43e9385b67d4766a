"""Market risk of the margin book: historical-simulation VaR/ES, backtest, stress scenarios.

Conventions (so that the numbers can be checked by hand):

* P&L scenarios: today's positions revalued with each of the last ``window`` (250) daily
  returns; losses are positive numbers.
* With n scenarios and tail mass m = n(1 − α): VaR_α is the (⌊m⌋ + 1)-th largest loss (for
  n = 250, α = 99 %: the 3rd largest); ES_α is the average of the largest m losses, the
  last one counted with weight m − ⌊m⌋ (n = 250, α = 97.5 %: (L1 + … + L6 + 0.25·L7) / 6.25).
* Backtest: a day is an exception when its realised loss exceeds the VaR computed from the
  previous ``window`` days. Kupiec's proportion-of-failures likelihood ratio
  LR = −2 ln[(1−p)^(T−x) p^x] + 2 ln[(1−x/T)^(T−x) (x/T)^x] ~ χ²(1). Basel traffic light for
  250 days at 99 %: green 0–4, yellow 5–9, red ≥ 10 exceptions; for other lengths the same
  cumulative binomial probabilities (95 % and 99.99 %) set the zones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import binom

from creditdesk.errors import InputError
from margin.engine import Book, Regime, evaluate
from margin.liquidation import slippage_fraction


def exposure_matrix(book: Book, prices: np.ndarray, n_instruments: int) -> sparse.csr_matrix:
    """[accounts × instruments] market value held, sparse (an account holds ~10 names)."""
    values = book.pos_quantity * prices[book.pos_instrument]
    return sparse.csr_matrix(
        (values, (book.pos_account, book.pos_instrument)), shape=(book.n_accounts, n_instruments)
    )


def pnl_scenarios(book: Book, prices: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """[scenarios × accounts] P&L of today's positions under each historical return vector."""
    if returns.ndim != 2 or returns.shape[1] != len(prices):
        raise InputError("returns must be [days × instruments] matching the prices", field="returns")
    exposure = exposure_matrix(book, prices, len(prices))
    return np.asarray((exposure @ returns.T).T)


def var_es(
    pnl: np.ndarray, var_level: float = 0.99, es_level: float = 0.975
) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES (positive = loss) along axis 0 of ``pnl`` [scenarios × portfolios]."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if pnl.ndim == 1:
        pnl = pnl[:, None]
    n = pnl.shape[0]
    if n < 10:
        raise InputError(f"need at least 10 scenarios, got {n}", field="pnl")
    if not (0.5 < var_level < 1 and 0.5 < es_level < 1):
        raise InputError("confidence levels must be between 0.5 and 1", field="level")
    losses = -np.sort(pnl, axis=0)  # ascending P&L → descending losses
    m_var = n * (1.0 - var_level)
    k = min(math.floor(m_var + 1e-9), n - 1)
    var = losses[k]
    m_es = n * (1.0 - es_level)
    whole = math.floor(m_es + 1e-9)
    frac = m_es - whole
    es = losses[:whole].sum(axis=0)
    if frac > 1e-12:
        es = es + frac * losses[whole]
    return var, es / m_es


def kupiec_pof(exceptions: int, observations: int, p: float = 0.01) -> tuple[float, float]:
    """Kupiec's likelihood ratio and its χ²(1) p-value."""
    x, t = exceptions, observations
    if not 0 <= x <= t or t <= 0:
        raise InputError("need 0 ≤ exceptions ≤ observations and observations > 0", field="exceptions")

    def loglik(q: float) -> float:
        a = (t - x) * math.log(1 - q) if t - x > 0 else 0.0
        b = x * math.log(q) if x > 0 else 0.0
        return a + b

    lr = max(-2.0 * (loglik(p) - loglik(x / t)), 0.0)
    return lr, math.erfc(math.sqrt(lr / 2.0))


def traffic_light(exceptions: int, observations: int = 250, p: float = 0.01) -> str:
    if observations == 250 and p == 0.01:
        return "green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red"
    cumulative = float(binom.cdf(exceptions, observations, p))
    return "green" if cumulative < 0.95 else "yellow" if cumulative < 0.9999 else "red"


@dataclass(frozen=True)
class Backtest:
    observations: int
    exceptions: int
    exception_days: np.ndarray  # indices into the P&L series
    var_series: np.ndarray
    kupiec_lr: float
    kupiec_p_value: float
    zone: str


def backtest(pnl: np.ndarray, window: int = 250, level: float = 0.99, last: int = 250) -> Backtest:
    """Rolling VaR from the previous ``window`` days against each of the ``last`` days."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if len(pnl) < window + 1:
        raise InputError(f"need more than {window} days of P&L, got {len(pnl)}", field="pnl")
    start = max(window, len(pnl) - last)
    days = np.arange(start, len(pnl))
    windows = np.lib.stride_tricks.sliding_window_view(pnl, window)[start - window : len(pnl) - window]
    var, _ = var_es(windows.T, level, 0.975)
    hits = -pnl[days] > var
    lr, pval = kupiec_pof(int(hits.sum()), len(days), 1 - level)
    return Backtest(
        len(days),
        int(hits.sum()),
        days[hits],
        var,
        lr,
        pval,
        traffic_light(int(hits.sum()), len(days), 1 - level),
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    shock: float  # uniform price move, e.g. −0.20
    liquidity: float  # multiplier on average daily volume available to liquidations


STRESS_SCENARIOS = {
    "mild": Scenario("mild", -0.05, 1.0),
    "severe": Scenario("severe", -0.10, 1.0),
    "crash": Scenario("crash", -0.20, 0.5),
}


@dataclass(frozen=True)
class StressResult:
    scenario: str
    status: np.ndarray  # per account after the shock
    ratio: np.ndarray
    loss_minor: np.ndarray  # per account: debt left after selling everything at stressed prices


def stress(
    book: Book,
    prices: np.ndarray,
    conversion_rate: np.ndarray,
    adv_shares: np.ndarray,
    volatility: np.ndarray,
    reg: Regime,
    scenario: Scenario,
) -> StressResult:
    """Shock all prices, re-evaluate, and price the loss if every position had to be sold.

    Selling cost uses the whole position against the liquidity-adjusted ADV (square-root
    impact), a deliberately pessimistic view of a forced sale in a crash.
    """
    shocked = prices * (1.0 + scenario.shock)
    ev = evaluate(book, shocked, conversion_rate, reg)
    q = book.pos_quantity
    adv = adv_shares[book.pos_instrument] * scenario.liquidity
    cost = np.minimum(
        slippage_fraction(q, adv, volatility[book.pos_instrument] * (1 + abs(scenario.shock) * 5)), 1.0
    )
    proceeds = np.bincount(
        book.pos_account, weights=q * shocked[book.pos_instrument] * (1.0 - cost), minlength=book.n_accounts
    )
    loss = np.maximum(book.debt - book.cash - proceeds, 0.0)
    return StressResult(scenario.name, ev.status, ev.ratio, loss)
