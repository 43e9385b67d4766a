"""Monitoring benchmark: PSI over many features and rows, and the whole committee report.

Run on demand: ``.venv/bin/python benchmarks/bench_monitoring.py [--rows N] [--features K]``.

1. PSI for K features over N current rows (reference N/2 rows), ours
   (``monitoring.stability.stability`` → ``models.metrics.psi_by_bin``: one quantile and one
   ``searchsorted`` per feature) beside a naive peer (``pandas.qcut`` on the reference, then
   ``pandas.cut`` + ``value_counts`` per feature, the way notebooks usually do it), with
   the largest difference between the two PSIs as a check that both measure the same thing.
   Target: ≤ 5 s for 60 features over 1M rows.
2. The whole report (``creditdesk report`` in a child process on parquet files: read,
   check, PSI, performance, Evidently on a 50k sample, charts, page, summary): wall time
   and the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import creditdesk  # noqa: E402,F401  (telemetry off before anything else)


def population(n: int, k: int, seed: int, income_shift: float = 1.0) -> pd.DataFrame:
    """k numeric features (mixed shapes), a PD, grade, outcomes and dates."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for j in range(k):
        kind = j % 4
        if kind == 0:
            cols[f"f{j:02d}_normal"] = rng.normal(size=n)
        elif kind == 1:
            cols[f"f{j:02d}_lognormal"] = rng.lognormal(10, 1, n) * (income_shift if j == 1 else 1.0)
        elif kind == 2:
            cols[f"f{j:02d}_count"] = rng.poisson(3, n).astype(float)
        else:
            values = rng.beta(2, 5, n)
            values[rng.random(n) < 0.05] = np.nan  # a nullable feature
            cols[f"f{j:02d}_ratio"] = values
    logit = -3.5 + 0.6 * cols["f00_normal"]
    pd_12m = 1 / (1 + np.exp(-logit))
    default = rng.random(n) < pd_12m
    frame = pd.DataFrame(cols)
    frame["pd_12m"] = pd_12m
    frame["grade"] = (
        np.searchsorted([0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256], pd_12m) + 1
    )
    frame["default_12m"] = default
    frame["application_date"] = pd.Timestamp("2023-01-01") + pd.to_timedelta(
        rng.integers(0, 365, n), unit="D"
    )
    frame["lgd"] = 0.3
    frame["realised_lgd"] = np.where(default, rng.uniform(0, 0.8, n), np.nan)
    return frame


def naive_psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """The notebook way: qcut the reference, cut the current on those edges, value_counts."""
    _, edges = pd.qcut(reference.dropna(), bins, retbins=True, duplicates="drop")
    edges[0], edges[-1] = -np.inf, np.inf
    ref = pd.cut(reference, edges).value_counts(normalize=True, sort=False)
    cur = pd.cut(current, edges).value_counts(normalize=True, sort=False)
    ref_share = np.where(ref.to_numpy() > 0, ref.to_numpy(), 1e-4)
    cur_share = np.where(cur.to_numpy() > 0, cur.to_numpy(), 1e-4)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def bench_psi(rows: int, k: int) -> list[tuple[str, float, str]]:
    from monitoring.stability import stability

    reference = population(rows // 2, k, seed=1)
    current = population(rows, k, seed=2, income_shift=0.5)
    features = [c for c in reference.columns if c.startswith("f")]
    start = time.perf_counter()
    ours = stability(reference, current, features)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    peer = {f: naive_psi(reference[f], current[f]) for f in features}
    peer_s = time.perf_counter() - start
    # The peer drops missing values and interpolates its edges; compare on complete columns.
    complete = [f for f in features if not f.endswith("_ratio")]
    gap = max(abs(float(ours.table.set_index("feature").loc[f, "psi"]) - peer[f]) for f in complete)
    red = ours.table.loc[ours.table["light"] == "red", "feature"].tolist()
    return [
        (f"PSI, ours ({k} features, {rows:,} current rows)", ours_s, f"red: {', '.join(red) or 'none'}"),
        ("PSI, naive pandas qcut/cut peer", peer_s, f"max |ours - peer| on complete columns {gap:.2e}"),
    ]


def bench_report(rows: int, k: int) -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        tmp_path = Path(tmp)
        population(rows, k, seed=3).to_parquet(tmp_path / "reference.parquet")
        population(rows, k, seed=4, income_shift=0.5).to_parquet(tmp_path / "current.parquet")
        command = [
            str(Path(sys.executable).parent / "creditdesk"),
            "report",
            "--reference",
            str(tmp_path / "reference.parquet"),
            "--current",
            str(tmp_path / "current.parquet"),
            "--out",
            str(tmp_path / "report"),
            "--no-ledger",
        ]
        results = []
        for label, extra in (
            ("with Evidently on a 50k sample", []),
            ("without Evidently", ["--no-evidently"]),
        ):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.perf_counter()
            proc = subprocess.run([*command, *extra], capture_output=True, text=True, cwd=REPO_ROOT)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"report failed: {proc.stderr}")
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            note = f"peak RSS {peak_kb / 1024:,.0f} MB" + ("" if peak_kb > before else " (≤ earlier run)")
            results.append((f"whole report, {rows:,} + {rows:,} rows, {label}", elapsed, note))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()
    rows = bench_psi(args.rows, args.features)
    if not args.skip_report:
        rows += bench_report(args.rows, args.features)
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'seconds':>8}  note")
    for name, seconds, note in rows:
        print(f"{name:<{width}}  {seconds:8.2f}  {note}")


if __name__ == "__main__":
    main()
