"""Account anomaly detection: daily behaviour vectors, an Isolation Forest, CUSUM rules, a review queue.

Input is one row per account and day (``DAILY_COLUMNS``) — what the ledger's trades and cash
transfers aggregate to at end of day. Each day becomes a behaviour vector measured against
the account's *own* history (the trailing ``history_days``), so a naturally busy trader is
not an anomaly, a quiet one who suddenly churns is:

===================== ==============================================================
signal                how
===================== ==============================================================
turnover_jump         log((turnover + 1) / (own trailing median + 1))
concentration_jump    top-name share today − own trailing mean
deposit_withdrawal    cash withdrawn within a day of a deposit, as a share of equity
leverage_jump         leverage use (debt / line) today − own trailing mean
odd_hours_share       share of value traded outside the session − own trailing mean
round_trips           buy-and-sell-back trips in one name − own trailing mean
===================== ==============================================================

Scoring: an Isolation Forest (scikit-learn) fitted on the book's own history scores each
vector; the paper's score s ∈ (0, 1] (0.5 ordinary, → 1 isolated) is ``−score_samples``. A
two-sided CUSUM per account on its standardised turnover adds an explicit rule for slow
drifts that one day's vector misses. Score above the policy threshold or a CUSUM alarm →
flagged: max leverage × ``leverage_multiplier`` and a review entry listing the top signals in
plain language (largest robust z against the population first). An analyst clears it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from creditdesk.errors import InputError
from margin.controls_policy import Anomaly
from margin.regime import cusum

DAILY_COLUMNS = (
    "account",
    "day",
    "turnover_minor",
    "top_share",
    "deposit_minor",
    "withdrawal_minor",
    "equity_minor",
    "leverage_use",
    "odd_hours_value_minor",
    "round_trips",
)
SIGNALS = (
    "turnover_jump",
    "concentration_jump",
    "deposit_withdrawal",
    "leverage_jump",
    "odd_hours_share",
    "round_trips",
)
PLAIN = {
    "turnover_jump": "turnover {x:.1f}× its own usual level",
    "concentration_jump": "one name's share of holdings jumped by {x:.0%}",
    "deposit_withdrawal": "withdrew {x:.0%} of equity within a day of a deposit",
    "leverage_jump": "leverage use rose by {x:.0%} of the line",
    "odd_hours_share": "{x:.0%} more of its traded value outside trading hours than usual",
    "round_trips": "{x:.1f} more round trips (buy and sell back in one name) than usual",
}


def _wide(d: pd.DataFrame, column: str) -> pd.DataFrame:
    return d.pivot(index="day", columns="account", values=column)


def _trailing(wide: pd.DataFrame, history_days: int, how: str) -> pd.DataFrame:
    """Median, mean or std of the previous ``history_days`` days (today excluded, NaN ignored).

    numpy windows over [days × accounts]: pandas' rolling per column costs seconds at 10k
    accounts. Fewer than 3 observations → NaN.
    """
    x = wide.to_numpy(dtype=np.float64)
    pad = np.full((history_days, x.shape[1]), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(np.vstack([pad, x[:-1]]), history_days, axis=0)
    count = np.sum(~np.isnan(windows), axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: handled by count
        if how == "median":
            stat = np.nanmedian(windows, axis=-1)
        elif how == "std":
            stat = np.nanstd(windows, axis=-1, ddof=1)
        else:
            stat = np.nanmean(windows, axis=-1)
    return pd.DataFrame(np.where(count >= 3, stat, np.nan), index=wide.index, columns=wide.columns)


def behaviour_vectors(daily: pd.DataFrame, history_days: int = 20) -> pd.DataFrame:
    """[account-days × SIGNALS], each day against the account's previous ``history_days``.

    Jumps are one-sided (a fall in turnover or leverage is not what this screen is for), so a
    quiet day does not look as odd as a frantic one. Wide [days × accounts] frames keep the
    rolling windows vectorised across accounts.
    """
    missing = set(DAILY_COLUMNS) - set(daily.columns)
    if missing:
        raise InputError(f"daily activity lacks columns {sorted(missing)}", field="daily")
    w = {c: _wide(daily, c) for c in DAILY_COLUMNS[2:]}
    turnover = w["turnover_minor"]
    usual = _trailing(turnover.where(turnover > 0), history_days, "median").fillna(turnover)
    top_usual = _trailing(w["top_share"], history_days, "mean").fillna(w["top_share"])
    lev_usual = _trailing(w["leverage_use"], history_days, "mean").fillna(w["leverage_use"])
    deposit_before = w["deposit_minor"].shift(1).fillna(0.0) + w["deposit_minor"]
    odd = w["odd_hours_value_minor"] / turnover.clip(lower=1.0)
    trips = w["round_trips"].astype(float)
    signals = {
        "turnover_jump": np.log((turnover + 1.0) / (usual + 1.0)).clip(lower=0.0),
        "concentration_jump": (w["top_share"] - top_usual).clip(lower=0.0),
        "deposit_withdrawal": np.minimum(w["withdrawal_minor"], deposit_before)
        / w["equity_minor"].clip(lower=1.0),
        "leverage_jump": (w["leverage_use"] - lev_usual).clip(lower=0.0),
        "odd_hours_share": (odd - _trailing(odd, history_days, "mean").fillna(odd)).clip(lower=0.0),
        "round_trips": (trips - _trailing(trips, history_days, "mean").fillna(trips)).clip(lower=0.0),
    }
    n_days, n_accounts = turnover.shape
    out = pd.DataFrame(
        {
            "account": np.tile(turnover.columns.to_numpy(), n_days),
            "day": np.repeat(turnover.index.to_numpy(), n_accounts),
            **{name: np.asarray(frame, dtype=np.float64).ravel() for name, frame in signals.items()},
        }
    )
    return out.fillna(0.0)


def turnover_cusum(daily: pd.DataFrame, policy: Anomaly, history_days: int = 20) -> pd.DataFrame:
    """[days × accounts]: CUSUM alarm on log turnover standardised by the account's own past.

    Days without trades carry no information about the level and count as z = 0; the
    standard deviation is floored at 0.05 (in log units) so a metronome account is not
    alarmed by a 5 % wiggle.
    """
    wide = _wide(daily, "turnover_minor")
    x = np.log(wide.where(wide > 0))
    mean = _trailing(x, history_days, "mean")
    std = _trailing(x, history_days, "std")
    z = ((x - mean) / std.clip(lower=0.05)).fillna(0.0).to_numpy()
    res = cusum(z, policy.cusum_k, policy.cusum_h)
    return pd.DataFrame(res.alarm_up, index=wide.index, columns=wide.columns)


@dataclass
class AnomalyModel:
    """Isolation Forest over behaviour vectors plus the population's robust scale for reasons."""

    policy: Anomaly
    seed: int = 0
    forest_: IsolationForest | None = None
    median_: np.ndarray = field(default_factory=lambda: np.zeros(len(SIGNALS)))
    scale_: np.ndarray = field(default_factory=lambda: np.ones(len(SIGNALS)))
    rule_line_: np.ndarray = field(default_factory=lambda: np.full(len(SIGNALS), np.inf))

    def fit(self, vectors: pd.DataFrame) -> AnomalyModel:
        x = vectors[list(SIGNALS)].to_numpy(dtype=np.float64)
        self.forest_ = IsolationForest(
            n_estimators=self.policy.n_estimators,
            max_samples=min(self.policy.max_samples, len(x)),
            random_state=self.seed,
            n_jobs=1,
        ).fit(x)
        self.median_ = np.median(x, axis=0)
        # tail scale (99th percentile distance): most signals sit at 0 with a one-sided tail,
        # where a MAD is 0 and says nothing about how far "far" is
        tail = np.quantile(x, 0.99, axis=0) - self.median_
        self.scale_ = np.where(tail > 1e-9, tail, 1.0)
        self.rule_line_ = self.policy.rule_multiple * np.maximum(
            np.quantile(x, self.policy.rule_quantile, axis=0), 1e-9
        )
        return self

    def rules(self, x: np.ndarray) -> np.ndarray:
        """Explicit rule per row: some signal beyond rule_multiple × its historical quantile."""
        return np.asarray((x > self.rule_line_).any(axis=1))

    def score(self, x: np.ndarray) -> np.ndarray:
        """Isolation score s ∈ (0, 1] per row (0.5 ordinary, near 1 anomalous)."""
        if self.forest_ is None:
            raise InputError("anomaly model is not fitted", field="model")
        return -self.forest_.score_samples(x)

    def reasons(self, x: np.ndarray, top: int = 3) -> list[str]:
        """Plain-language top signals per row: largest robust deviation above the population."""
        z = (x - self.median_) / self.scale_
        order = np.argsort(-z, axis=1)[:, :top]
        out = []
        for row, idx in zip(x, order, strict=True):
            parts = []
            for j in idx:
                name = SIGNALS[j]
                value = np.exp(row[j]) if name == "turnover_jump" else row[j]
                parts.append(PLAIN[name].format(x=value))
            out.append("; ".join(parts))
        return out


@dataclass
class ReviewQueue:
    """Flagged accounts awaiting an analyst; clearing restores their leverage."""

    open: dict[int, dict[str, object]] = field(default_factory=dict)
    cleared: list[dict[str, object]] = field(default_factory=list)

    def flag(self, account: int, day: object, score: float, reasons: str) -> None:
        if account not in self.open:
            self.open[account] = {"account": account, "day": day, "score": score, "reasons": reasons}

    def clear(self, account: int, analyst: str, day: object, note: str = "") -> None:
        if account not in self.open:
            raise InputError(f"account {account} is not in the review queue", field="account")
        entry = self.open.pop(account)
        self.cleared.append({**entry, "cleared_by": analyst, "cleared_day": day, "note": note})

    def leverage_multiplier(self, accounts: np.ndarray, policy: Anomaly) -> np.ndarray:
        """× max leverage per account: the policy cut while under review, 1 otherwise."""
        flagged = np.isin(accounts, np.fromiter(self.open, dtype=np.int64, count=len(self.open)))
        return np.where(flagged, policy.leverage_multiplier, 1.0)


def flag_day(
    model: AnomalyModel, vectors: pd.DataFrame, cusum_alarm: np.ndarray, queue: ReviewQueue
) -> pd.DataFrame:
    """Score one day's vectors; flag and enqueue those over the threshold or with a CUSUM alarm."""
    x = vectors[list(SIGNALS)].to_numpy(dtype=np.float64)
    score = model.score(x)
    rule = model.rules(x)
    flagged = (score > model.policy.score_threshold) | rule | cusum_alarm
    out = vectors[["account", "day"]].assign(score=score, rule=rule, cusum_alarm=cusum_alarm, flagged=flagged)
    idx = np.flatnonzero(flagged)
    reasons = model.reasons(x[idx]) if len(idx) else []
    for i, text in zip(idx, reasons, strict=True):
        if cusum_alarm[i] and score[i] <= model.policy.score_threshold and not rule[i]:
            text = "turnover drifted up for several days (CUSUM); " + text
        queue.flag(int(out.account.iat[i]), out.day.iat[i], float(score[i]), text)
    out["reasons"] = ""
    out.loc[out.index[idx], "reasons"] = reasons
    return out


def score_book(
    daily: pd.DataFrame, policy: Anomaly, seed: int = 0, warmup_days: int = 5
) -> tuple[pd.DataFrame, ReviewQueue]:
    """Fit on the book's own history (all days but the last, after a warm-up) and flag the last day."""
    vectors = behaviour_vectors(daily)
    alarms = turnover_cusum(daily, policy)
    last = vectors.day.max()
    history = vectors[(vectors.day < last) & (vectors.day >= vectors.day.min() + warmup_days)]
    if history.empty:
        raise InputError("need history before the scored day to train on", field="daily")
    model = AnomalyModel(policy, seed=seed).fit(history)
    today = vectors[vectors.day == last].reset_index(drop=True)
    alarm = alarms.loc[last].reindex(today.account).fillna(False).to_numpy(dtype=bool)
    queue = ReviewQueue()
    return flag_day(model, today, alarm, queue), queue
