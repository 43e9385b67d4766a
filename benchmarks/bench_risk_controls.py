"""Benchmark of the dynamic risk controls, each against a baseline measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_risk_controls.py [--instruments 500] [--years 20]
[--accounts 100000] [--json]``

What is measured (targets from issue 14):

- regime: ``margin.regime.regime_timeline`` over ``instruments`` × ``years`` of trading days
  (simulated one-factor returns and volume), and the live one-day update
  ``RegimeTracker.update`` (EWMA per name, index EWMA, CUSUM, hysteresis), p50/p99 over 1,000
  days — target ≤ 10 ms. Baseline: the way it is usually written, recomputing the EWMA and
  20-day volatility of every name from the last 250 days with pandas each day.
- anomaly: scoring ``accounts`` accounts' behaviour vectors for one day with ``flag_day``
  (Isolation Forest score, explicit rules, plain-language reasons for the flagged ones) —
  target ≤ 2 s. Building the vectors from 22 days of activity is timed separately. Baselines:
  the Isolation Forest score alone, and the explicit rules alone (numpy).
- pre-trade: ``margin.concentration.check_buy`` + ``margin.wash.check_order`` for an account
  holding 10 names (p50/p99 over 20,000 calls) — target ≤ 0.2 ms added to a buy. Baseline:
  the engine's own pre-trade evaluation of one account after the buy (``margin.engine.evaluate``
  on a one-account book), which every buy already pays.
- buy path: ``MarginDesk.buy`` on a SQLite service database with the risk checks
  (``margin.risk_checks``) and, interleaved in the same run, without them: the p50
  difference is what the checks add to a buy.
- detection: precision and recall of the Isolation Forest, the explicit rules, the turnover
  CUSUM and their combination on 10,000 accounts × 40 days with 2 % planted
  (``margin.anomaly_synthetic``: how they are planted is written there).

The machine is shared: the load average is printed beside the figures. ``--json``: the last
line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from margin.anomaly import SIGNALS, AnomalyModel, ReviewQueue, behaviour_vectors, flag_day
from margin.anomaly_synthetic import daily_activity, measure_detection, plant_anomalies
from margin.concentration import check_buy
from margin.controls_policy import RiskControlsPolicy
from margin.engine import CN, Book, evaluate
from margin.regime import RegimeTracker, regime_timeline
from margin.wash import BUY, SELL, Fill, Order, check_order

POLICY = RiskControlsPolicy()


def _pct(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def simulate(instruments: int, days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    market = rng.standard_t(4, (days, 1)) * 0.008
    returns = market * rng.uniform(0.6, 1.5, instruments) + rng.normal(0, 0.015, (days, instruments))
    returns[0] = 0.0
    volume = np.exp(rng.normal(14, 0.5, (days, instruments)))
    return returns, volume


def bench_regime(instruments: int, years: int) -> dict[str, float]:
    days = years * 252
    returns, volume = simulate(instruments, days)
    t0 = time.perf_counter()
    tl = regime_timeline(returns, volume, POLICY.regime)
    full_s = time.perf_counter() - t0
    tracker = RegimeTracker(POLICY.regime, inst_var=np.full(instruments, 2e-4), index_var=1e-4)
    samples = []
    for r in returns[-1000:]:
        t = time.perf_counter()
        tracker.update(r)
        samples.append(time.perf_counter() - t)
    p50, p99 = _pct(samples)
    base = []
    for d in range(days - 50, days):
        window = pd.DataFrame(returns[d - 250 : d + 1])
        t = time.perf_counter()
        window.ewm(alpha=1 - POLICY.regime.ewma_lambda).std().iloc[-1].to_numpy()
        window.iloc[-20:].std().to_numpy()
        base.append(time.perf_counter() - t)
    b50, b99 = _pct(base)
    return {
        "instruments": instruments,
        "days": days,
        "timeline_full_s": round(full_s, 3),
        "crisis_days": int((tl.level == 2).sum()),
        "update_ms_p50": round(p50, 4),
        "update_ms_p99": round(p99, 4),
        "baseline_recompute_ms_p50": round(b50, 3),
        "baseline_recompute_ms_p99": round(b99, 3),
    }


def bench_anomaly(accounts: int) -> dict[str, float]:
    activity, _, _ = plant_anomalies(daily_activity(accounts, 22, seed=0), share=0.02, seed=1)
    t0 = time.perf_counter()
    vectors = behaviour_vectors(activity)
    vectors_s = time.perf_counter() - t0
    last = vectors.day.max()
    history = vectors[(vectors.day < last) & (vectors.day >= 5)].sample(200_000, random_state=0, replace=True)
    model = AnomalyModel(POLICY.anomaly, seed=0).fit(history)
    today = vectors[vectors.day == last].reset_index(drop=True)
    x = today[list(SIGNALS)].to_numpy(dtype=np.float64)
    no_alarm = np.zeros(len(today), dtype=bool)
    t0 = time.perf_counter()
    out = flag_day(model, today, no_alarm, ReviewQueue())
    flag_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.score(x)
    forest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.rules(x)
    rules_s = time.perf_counter() - t0
    return {
        "accounts": accounts,
        "vectors_build_s": round(vectors_s, 3),
        "score_and_flag_s": round(flag_s, 3),
        "flagged": int(out.flagged.sum()),
        "baseline_forest_score_only_s": round(forest_s, 3),
        "baseline_rules_only_s": round(rules_s, 4),
    }


def bench_pretrade(calls: int = 20_000) -> dict[str, float]:
    rng = np.random.default_rng(2)
    names = rng.choice(500, 10, replace=False)
    holdings = {int(j): float(v) for j, v in zip(names, rng.uniform(1e5, 1e6, 10), strict=True)}
    resting = [Order(1, 7, SELL, 100, 12.0, 0), Order(1, 9, BUY, 100, 8.0, 0)]
    fills = [Fill(int(j), BUY, 0) for j in range(5)]
    conc = POLICY.concentration
    samples = []
    for i in range(calls):
        t = time.perf_counter()
        check_buy(holdings, 2e5, 3e6, 42, 5e4, 5e4, 1e6, 1e9, float("nan"), conc, frozen=False)
        check_order(Order(1, 42, BUY, 100, 10.0, 10**12 + i), resting, fills, 300)
        samples.append(time.perf_counter() - t)
    p50, p99 = _pct(samples)
    one = np.zeros(11, dtype=np.int64)
    book = Book(np.array([2e5]), np.array([3.05e6]), one, np.arange(11), np.full(11, 1e4))
    prices = np.full(11, 10.0)
    conv = np.full(11, 0.7)
    base = []
    for _ in range(calls // 4):
        t = time.perf_counter()
        evaluate(book, prices, conv, CN)
        base.append(time.perf_counter() - t)
    b50, b99 = _pct(base)
    return {
        "check_ms_p50": round(p50, 4),
        "check_ms_p99": round(p99, 4),
        "baseline_engine_evaluate_one_account_ms_p50": round(b50, 4),
        "baseline_engine_evaluate_one_account_ms_p99": round(b99, 4),
        "names_held": len(holdings),
    }


def bench_buy_path(buys: int = 400) -> dict[str, float]:
    """A real buy (SQLite service database) with and without the risk checks, interleaved."""
    import tempfile

    from ledger.storage import make_engine
    from margin.checks import DEFAULT_BUY_CHECKS
    from margin.risk_checks import risk_buy_checks
    from margin.service import MarginDesk
    from margin.storage import migrate

    class Clock:
        ns = 1_768_000_000 * 10**9

        def __call__(self) -> int:
            self.ns += 1_000_000
            return self.ns

    samples: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        desks = {}
        for name, checks in (
            ("without", DEFAULT_BUY_CHECKS),
            ("with", (*DEFAULT_BUY_CHECKS, *risk_buy_checks())),
        ):
            engine = make_engine(f"sqlite:///{tmp}/{name}.db")
            migrate(engine)
            desk = MarginDesk(engine, Clock(), buy_checks=checks)
            for j in range(1, 11):
                desk.upsert_instrument(
                    j, f"S{j:03d}", "index_constituent", price_minor=1_000, adv_shares=10**8
                )
            desk.open_facility(7, f"dec-{name}", line_minor=10**9, annual_rate_bps=730)
            desk.deposit(7, "dep", 10**9)
            desks[name] = desk
        for i in range(buys):
            for name, desk in desks.items():
                t = time.perf_counter()
                result = desk.buy(7, f"b{i}", 1 + i % 10, 10, 1_000)
                samples[name].append(time.perf_counter() - t)
                assert result.ok, result.reason
    w50, w99 = _pct(samples["with"][20:])
    b50, b99 = _pct(samples["without"][20:])
    return {
        "buys": buys,
        "buy_with_checks_ms_p50": round(w50, 3),
        "buy_with_checks_ms_p99": round(w99, 3),
        "buy_without_ms_p50": round(b50, 3),
        "buy_without_ms_p99": round(b99, 3),
        "added_ms_p50": round(w50 - b50, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--detection-accounts", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    result = {
        "regime": bench_regime(args.instruments, args.years),
        "anomaly": bench_anomaly(args.accounts),
        "pretrade": bench_pretrade(),
        "buy_path": bench_buy_path(),
        "detection": measure_detection(args.detection_accounts, 40, 0.02, seed=0),
        "load_1m_before": round(load_before, 2),
        "load_1m_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    for section in ("regime", "anomaly", "pretrade", "buy_path", "detection"):
        print(section, " ".join(f"{k}={v}" for k, v in result[section].items()))  # type: ignore[union-attr]
    print(f"load average 1 min: {result['load_1m_before']} before, {result['load_1m_after']} after")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
