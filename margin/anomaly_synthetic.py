"""A documented synthetic book of daily account activity, with planted abnormal accounts.

Used to measure the anomaly detector's precision and recall (README, "Risk controls") and by
the benchmark. Until the population generator emits per-day activity, this is the planting
step, stated in full so the figures can be reproduced:

Ordinary accounts (``daily_activity``), per account a stable style and per day noise:
turnover log-normal around an account level (median ¥200k, σ 1.0 across accounts; ×LN(0, 0.5)
per day; 35 % of days no trade); top-name share Beta(2, 3) per account ± 0.05 a day; leverage
use U(0.1, 0.8) per account ± 0.05; a deposit on 4 % of days and, independently, a withdrawal
of up to 20 % of equity on 4 % of days; 3 % of value traded out of hours on average (a few
accounts up to 20 %); a round trip on 3 % of days.

Planted (``plant_anomalies``): ``share`` of the accounts (default 2 %), each given ONE pattern
on the last day, chosen uniformly from six, with a random strength so that some are subtle:
turnover ×(4–15); top share set to 0.85–1.0; a deposit the day before and a withdrawal of
60–100 % of equity; leverage use +0.3–0.6 (capped at 1); 40–90 % of value out of hours;
4–10 round trips. The truth column ``planted`` says which accounts carry one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PATTERNS = ("turnover", "concentration", "deposit_withdrawal", "leverage", "odd_hours", "round_trips")


def daily_activity(n_accounts: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    """Ordinary behaviour: one row per account and day (``anomaly.DAILY_COLUMNS``)."""
    rng = np.random.default_rng(seed)
    shape = (n_days, n_accounts)
    level = 200_000_00 * np.exp(rng.normal(0.0, 1.0, n_accounts))
    trades = rng.random(shape) > 0.35
    turnover = np.where(trades, level * np.exp(rng.normal(0.0, 0.5, shape)), 0.0)
    top = np.clip(rng.beta(2, 3, n_accounts) + rng.normal(0, 0.05, shape), 0.05, 1.0)
    lev = np.clip(rng.uniform(0.1, 0.8, n_accounts) + rng.normal(0, 0.05, shape), 0.0, 1.0)
    equity = 5 * level * np.exp(rng.normal(0.0, 0.05, shape))
    deposit = np.where(rng.random(shape) < 0.04, equity * rng.uniform(0.02, 0.3, shape), 0.0)
    withdrawal = np.where(rng.random(shape) < 0.04, equity * rng.uniform(0.01, 0.2, shape), 0.0)
    odd_rate = np.where(rng.random(n_accounts) < 0.05, 0.2, 0.03)
    odd = turnover * np.clip(rng.normal(odd_rate, 0.02, shape), 0.0, 1.0)
    rtrips = (trades & (rng.random(shape) < 0.03)).astype(np.int64)
    days = np.repeat(np.arange(n_days), n_accounts)
    return pd.DataFrame(
        {
            "account": np.tile(np.arange(n_accounts), n_days),
            "day": days,
            "turnover_minor": turnover.ravel(),
            "top_share": top.ravel(),
            "deposit_minor": deposit.ravel(),
            "withdrawal_minor": withdrawal.ravel(),
            "equity_minor": equity.ravel(),
            "leverage_use": lev.ravel(),
            "odd_hours_value_minor": odd.ravel(),
            "round_trips": rtrips.ravel(),
        }
    )


def plant_anomalies(
    daily: pd.DataFrame, share: float = 0.02, seed: int = 1
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Plant one pattern on the last day of ``share`` of accounts: (activity, truth, pattern by account)."""
    rng = np.random.default_rng(seed)
    d = daily.copy()
    accounts = np.sort(d.account.unique())
    last = d.day.max()
    chosen = rng.choice(accounts, size=max(1, round(share * len(accounts))), replace=False)
    pattern = rng.choice(len(PATTERNS), size=len(chosen))
    rows = d.index[(d.day == last) & d.account.isin(chosen)]
    by_account = pd.Series(rows, index=d.loc[rows, "account"].to_numpy())
    prev = d.index[(d.day == last - 1) & d.account.isin(chosen)]
    prev_by_account = pd.Series(prev, index=d.loc[prev, "account"].to_numpy())
    level = d[d.day < last].groupby("account").turnover_minor.median()
    for acc, p in zip(chosen, pattern, strict=True):
        i = by_account[acc]
        base = max(level.get(acc, 0.0), d.at[i, "turnover_minor"], 1_000_000.0)
        name = PATTERNS[p]
        if name == "turnover":
            d.at[i, "turnover_minor"] = base * rng.uniform(4, 15)
        elif name == "concentration":
            d.at[i, "top_share"] = rng.uniform(0.85, 1.0)
        elif name == "deposit_withdrawal":
            eq = d.at[i, "equity_minor"]
            d.at[prev_by_account[acc], "deposit_minor"] = eq * rng.uniform(0.6, 1.0)
            d.at[i, "withdrawal_minor"] = eq * rng.uniform(0.6, 1.0)
        elif name == "leverage":
            d.at[i, "leverage_use"] = min(d.at[i, "leverage_use"] + rng.uniform(0.3, 0.6), 1.0)
        elif name == "odd_hours":
            d.at[i, "turnover_minor"] = base
            d.at[i, "odd_hours_value_minor"] = base * rng.uniform(0.4, 0.9)
        else:
            d.at[i, "turnover_minor"] = base
            d.at[i, "round_trips"] = int(rng.integers(4, 11))
    truth = pd.Series(np.isin(accounts, chosen), index=accounts, name="planted")
    kinds = pd.Series([PATTERNS[p] for p in pattern], index=chosen, name="pattern")
    return d, truth, kinds.sort_index()


def precision_recall(flagged: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Precision and recall of per-account flags against the planted truth."""
    f = flagged.reindex(truth.index, fill_value=False).astype(bool)
    t = truth.astype(bool)
    tp = int((f & t).sum())
    fp = int((f & ~t).sum())
    fn = int((~f & t).sum())
    return {
        "planted": int(t.sum()),
        "flagged": int(f.sum()),
        "true_positives": tp,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
    }


def measure_detection(
    n_accounts: int = 10_000, n_days: int = 40, share: float = 0.02, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Precision and recall of each detector and of the combination on a planted book (README figures)."""
    from margin.anomaly import score_book
    from margin.controls_policy import RiskControlsPolicy

    policy = RiskControlsPolicy().anomaly
    activity, truth, _ = plant_anomalies(daily_activity(n_accounts, n_days, seed=seed), share, seed + 1)
    result, _ = score_book(activity, policy, seed=seed)
    flags = {
        "isolation_forest": result.score > policy.score_threshold,
        "rules": result.rule,
        "cusum": result.cusum_alarm,
        "combined": result.flagged,
    }
    return {
        name: precision_recall(pd.Series(f.to_numpy(), index=result.account), truth)
        for name, f in flags.items()
    }
