"""Benchmark: decisions per second through the vectorised engine vs a plain-Python loop.

Run on demand: ``.venv/bin/python benchmarks/bench_pricing.py [--n 1000000] [--peer-n 20000]``.
Not a test. One core: BLAS/OpenMP threads are pinned to 1 before numpy loads.

Rows:
- ``decide`` (numpy, vectorised) over n applicants (PD/LGD/CCF/grade given), best of 3;
- the peer: the same rules written per applicant in plain Python (``math`` and
  ``statistics.NormalDist``), on a subset, checked to agree with ``decide`` on every
  outcome, line and rate, so the speed-up compares like with like;
- one applicant through ``decide`` (arrays of length 1): the online path's latency.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pricing.decision import INPUT_FIELDS, decide  # noqa: E402
from pricing.policy import Policy, load_policy  # noqa: E402

NORMAL = statistics.NormalDist()


def population(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pd_12m": np.clip(rng.lognormal(-4.0, 1.0, n), 0.0002, 0.9),
        "lgd": rng.uniform(0.05, 0.7, n),
        "ccf": rng.uniform(0.2, 1.0, n),
        "grade": rng.integers(1, 12, n),
        "requested_line_minor": rng.integers(50_000, 10_000_000, n),
        "platform_assets_minor": rng.integers(100_000, 20_000_000, n),
        "annual_income_minor": rng.integers(500_000, 30_000_000, n),
        "age": rng.integers(16, 90, n),
        "identity_verified": rng.random(n) < 0.98,
        "is_pep": rng.random(n) < 0.01,
        "pep_reviewed": rng.random(n) < 0.5,
        "sanctions_hit": rng.random(n) < 0.002,
        "trading_history_days": rng.integers(0, 1500, n),
        "bureau_default_24m": rng.random(n) < 0.02,
    }


def python_decide(row: dict[str, Any], policy: Policy) -> tuple[str, int, float]:
    """The peer: the same policy, one applicant at a time, no numpy."""
    ko, lim, rates, cap = policy.knockouts, policy.limits, policy.rates, policy.capital
    grade = row["grade"]
    tier = policy.grades.tiers[grade - 1] if grade <= 10 else None
    acceptable = grade <= policy.grades.acceptable_max_grade
    line_cap = tier.max_line_minor if tier else 0
    line = min(
        line_cap,
        int(lim.asset_multiple * row["platform_assets_minor"]),
        int(lim.income_multiple * row["annual_income_minor"]),
        row["requested_line_minor"],
    )
    line = line // lim.line_unit_minor * lim.line_unit_minor
    p = max(row["pd_12m"], cap.pd_floor)
    f = (1 - math.exp(-35 * p)) / (1 - math.exp(-35))
    r = 0.03 * f + 0.16 * (1 - f)
    k = row["lgd"] * (
        NORMAL.cdf((NORMAL.inv_cdf(p) + math.sqrt(r) * NORMAL.inv_cdf(cap.confidence)) / math.sqrt(1 - r)) - p
    )
    el_rate = row["pd_12m"] * row["lgd"]
    required = rates.funding_rate + rates.opex_rate + el_rate + rates.hurdle_raroc * k - rates.fee_rate
    rate = min(max(required, rates.rate_floor), rates.rate_cap)
    decline = (
        row["sanctions_hit"]
        or not row["identity_verified"]
        or not ko.min_age_years <= row["age"] <= ko.max_age_years
        or row["bureau_default_24m"]
        or row["trading_history_days"] < ko.min_trading_history_days
        or row["platform_assets_minor"] < ko.min_platform_assets_minor
        or grade == 11
        or not acceptable
        or required > rates.rate_cap
        or line < lim.min_line_minor
    )
    refer = (row["is_pep"] and not row["pep_reviewed"]) or line < lim.refer_below_share * row[
        "requested_line_minor"
    ]
    outcome = "decline" if decline else "refer" if refer else "approve"
    return outcome, (0 if decline else line), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="applicants for the vectorised engine")
    parser.add_argument("--peer-n", type=int, default=20_000, help="applicants for the plain-Python peer")
    parser.add_argument("--single", type=int, default=5_000, help="one-applicant calls for the latency row")
    args = parser.parse_args()
    policy = load_policy()
    data = population(args.n)

    times = []
    for _ in range(3):
        start = time.perf_counter()
        batch = decide(data, policy)
        times.append(time.perf_counter() - start)
    vector_s = min(times)

    m = min(args.peer_n, args.n)
    rows = [{k: data[k][i].item() for k in INPUT_FIELDS} for i in range(m)]
    start = time.perf_counter()
    peer = [python_decide(row, policy) for row in rows]
    peer_s = time.perf_counter() - start
    labels = batch.outcome[:m].tolist()  # the property builds n labels per access: take it once
    outcome_ok = all(peer[i][0] == labels[i] for i in range(m))
    line_ok = all(peer[i][1] == batch.credit_limit_minor[i] for i in range(m))
    rate_err = max(abs(peer[i][2] - batch.annual_rate[i]) for i in range(m))

    one = {k: v[:1].copy() for k, v in data.items()}
    decide(one, policy)
    lat = []
    for _ in range(args.single):
        start = time.perf_counter()
        decide(one, policy)
        lat.append(time.perf_counter() - start)
    lat_us = np.array(lat) * 1e6

    x, y = np.ones(1), np.ones(1)
    calib = []
    for _ in range(args.single):
        start = time.perf_counter()
        np.add(x, y)
        calib.append(time.perf_counter() - start)
    calib_us = np.array(calib) * 1e6
    all_labels = batch.outcome
    outcomes = {o: int((all_labels == o).sum()) for o in ("approve", "refer", "decline")}
    print(f"pricing benchmark: policy {policy.version}, numpy {np.__version__}, one core")
    print(f"{'engine':<44}{'applicants':>12}{'seconds':>10}{'decisions/s':>14}")
    print(
        f"{'decide() vectorised numpy (best of 3)':<44}{args.n:>12,}{vector_s:>10.3f}"
        f"{args.n / vector_s:>14,.0f}"
    )
    print(f"{'plain-Python loop (math + NormalDist)':<44}{m:>12,}{peer_s:>10.3f}{m / peer_s:>14,.0f}")
    print(f"speed-up vectorised / loop: {(args.n / vector_s) / (m / peer_s):,.0f}x")
    print(f"peer agrees on {m:,}: outcomes {outcome_ok}, lines {line_ok}, max |rate diff| {rate_err:.1e}")
    print(
        f"one applicant through decide() ({args.single:,} calls): median {np.median(lat_us):.1f} us, "
        f"p99 {np.percentile(lat_us, 99):.1f} us, min {lat_us.min():.1f} us"
    )
    print(
        f"machine calibration: one np.add on a 1-element array median {np.median(calib_us):.2f} us "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"outcomes of the {args.n:,}: {outcomes}")


if __name__ == "__main__":
    main()
