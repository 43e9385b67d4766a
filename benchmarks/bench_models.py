"""Benchmark of the models room (run on demand; not a test).

    .venv/bin/python benchmarks/bench_models.py [--sizes 100000,1000000] [--calls 2000]
        [--dask] [--score-rows 1000000] [--json]

1. PD fit time (LightGBMPD, hold-out early stopping + calibration) on synthetic applicants
   with the catalogue's number of features; with ``--dask`` the same model on a 2-worker
   local Dask cluster (``lightgbm.dask``, the in-process tree count) at the smallest size.
2. One applicant, PD + grade + LGD + CCF + four reasons through ``ChampionSet.score`` (one row)
   (numpy + Booster) against ``mlflow.pyfunc`` predict of the same PD model on a one-row
   DataFrame: p50/p99 in microseconds and the ratio, same run.
3. Batch scoring rows per second (with and without reasons) on ``--score-rows`` applicants
   (default: the largest fitted size), with the peak resident memory the scoring added
   (sampled from /proc/self/status every 10 ms).

The applicants are a numpy simulation (a logistic signal over independent features), not
the full population generator, so that a million rows take seconds to make.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

import creditdesk  # noqa: F401  (telemetry off)


def applicants(n: int, n_features: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float64)
    weights = np.random.default_rng(12345).normal(0, 0.4, n_features)  # the same truth for every sample
    weights[:5] = [0.9, -0.7, 0.6, -0.5, 0.4]
    logit = -3.4 + X @ weights + 0.3 * np.sin(X[:, 0] * X[:, 1])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    lgd = np.clip(0.3 + 0.15 * X[:, 2] + rng.normal(0, 0.1, n), 0, 1) * (rng.uniform(size=n) < 0.7)
    names = [f"f{i:02d}" for i in range(n_features)]
    return pd.DataFrame(X, columns=names), y, lgd


def percentiles_us(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1e6
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


class PeakRSS:
    """Peak resident memory (MB) above the level at entry, sampled by a thread."""

    def __enter__(self) -> PeakRSS:
        import threading

        self.base = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def added_mb(self) -> float:
        return self.peak - self.base


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dask_fit(X: pd.DataFrame, y: np.ndarray, rounds: int, threads: int) -> tuple[float, object]:
    """The same LightGBMPD fitted with lightgbm.dask on a 2-worker local cluster (seconds, model)."""
    from dask.distributed import Client, LocalCluster

    from models.pd_model import LightGBMPD

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        model = LightGBMPD(n_estimators=400, learning_rate=0.08, n_jobs=threads).fit_dask(
            X, y, client, n_estimators=rounds
        )
        return time.perf_counter() - start, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated applicant counts to fit")
    parser.add_argument("--calls", type=int, default=2000, help="single-applicant calls to time")
    parser.add_argument("--pyfunc-calls", type=int, default=300, help="pyfunc calls to time")
    parser.add_argument("--threads", type=int, default=2, help="LightGBM training threads")
    parser.add_argument("--dask", action="store_true", help="also fit the smallest size on local Dask")
    parser.add_argument("--score-rows", type=int, default=None, help="rows to batch-score (default: largest)")
    parser.add_argument("--json", action="store_true", help="last line of stdout is one JSON object")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from features.catalogue import feature_names
    from models.bundle import ChampionSet, save_ead_bundle, save_lgd_bundle, save_pd_bundle
    from models.ead import CCFByGrade
    from models.lgd import TwoStageLGD
    from models.master_scale import grade_of
    from models.metrics import auc
    from models.pd_model import LightGBMPD

    n_features = len(feature_names())
    print(f"models benchmark: {n_features} features, cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    rows: list[tuple[str, str]] = []
    model = None
    biggest = max(sizes)
    X_big = y_big = lgd_big = None
    for n in sizes:
        X, y, lgd = applicants(n, n_features, seed=n)
        start = time.perf_counter()
        fitted = LightGBMPD(n_estimators=400, learning_rate=0.08, n_jobs=args.threads).fit(X, y)
        seconds = time.perf_counter() - start
        X_test, y_test, _ = applicants(50_000, n_features, seed=n + 1)
        rows.append(
            (
                f"PD fit, {n:,} applicants",
                f"{seconds:.1f} s ({fitted.best_iteration_} trees, hold-out AUC "
                f"{auc(y_test, fitted.predict_pd(X_test)):.3f})",
            )
        )
        print(rows[-1])
        if args.dask and n == min(sizes):
            dask_seconds, dask_model = dask_fit(X, y, fitted.best_iteration_, args.threads)
            dask_auc = auc(y_test, dask_model.predict_pd(X_test))  # type: ignore[attr-defined]
            rows.append((f"PD fit, {n:,} applicants, Dask (2 local workers, same trees)",
                         f"{dask_seconds:.1f} s (hold-out AUC {dask_auc:.3f})"))  # fmt: skip
            print(rows[-1])
        if n == biggest:
            model, X_big, y_big, lgd_big = fitted, X, y, lgd
    assert model is not None and X_big is not None and y_big is not None and lgd_big is not None

    defaults = y_big == 1
    lgd_model = TwoStageLGD(n_estimators=200).fit(X_big[defaults].head(50_000), lgd_big[defaults][:50_000])
    grades = grade_of(model.predict_pd(X_big.head(50_000)))
    ead_model = CCFByGrade().fit(grades, np.clip(0.3 + 0.03 * grades, 0, 1))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_pd_bundle(model, root / "pd", descriptions={c: f"feature {c}" for c in X_big.columns})
        save_lgd_bundle(lgd_model, root / "lgd")
        save_ead_bundle(ead_model, root / "ead")
        champions = ChampionSet.from_dirs(root / "pd", root / "lgd", root / "ead")

        matrix = X_big.to_numpy()
        for i in range(200):  # warm up
            champions.score(matrix[i : i + 1])
        samples = []
        for i in range(args.calls):
            x = matrix[i % len(matrix)].reshape(1, -1)
            t0 = time.perf_counter()
            champions.score(x)  # one applicant, as serving scores
            samples.append(time.perf_counter() - t0)
        ours_p50, ours_p99 = percentiles_us(samples)
        pd_only = []
        for i in range(args.calls):
            x = matrix[i % len(matrix)].reshape(1, -1)
            t0 = time.perf_counter()
            champions.pd.pd_from_matrix(x)
            pd_only.append(time.perf_counter() - t0)
        pd_p50, pd_p99 = percentiles_us(pd_only)

        import mlflow.pyfunc

        from models.pyfunc import PDPyfunc

        mlflow.pyfunc.save_model(
            str(root / "pyfunc_pd"), python_model=PDPyfunc(), artifacts={"bundle": str(root / "pd")}
        )
        loaded = mlflow.pyfunc.load_model(str(root / "pyfunc_pd"))
        frames = [X_big.iloc[[i]] for i in range(args.pyfunc_calls)]
        for frame in frames[:20]:
            loaded.predict(frame)
        py_samples = []
        for frame in frames:
            t0 = time.perf_counter()
            loaded.predict(frame)
            py_samples.append(time.perf_counter() - t0)
        py_p50, py_p99 = percentiles_us(py_samples)

        rows.append(("one applicant PD+grade+LGD+CCF+reasons (ChampionSet.score, one row)",
                     f"p50 {ours_p50:.0f} µs, p99 {ours_p99:.0f} µs"))  # fmt: skip
        rows.append(
            (
                "one applicant PD only (Booster.predict + calibration)",
                f"p50 {pd_p50:.0f} µs, p99 {pd_p99:.0f} µs",
            )
        )
        rows.append(
            ("one applicant PD only, mlflow.pyfunc predict", f"p50 {py_p50:.0f} µs, p99 {py_p99:.0f} µs")
        )
        rows.append(
            ("pyfunc p50 / ChampionSet.score p50 (full decision scoring)", f"{py_p50 / ours_p50:.1f}x")
        )

        if args.score_rows:
            matrix = applicants(args.score_rows, n_features, seed=7)[0].to_numpy()
        for with_reasons in (False, True):
            # TreeSHAP reasons run at a few hundred rows/s here: time them on 50,000 rows
            batch = matrix[:50_000] if with_reasons else matrix
            with PeakRSS() as memory:
                t0 = time.perf_counter()
                champions.score(batch, with_reasons=with_reasons)
                seconds = time.perf_counter() - t0
            label = "with reasons" if with_reasons else "no reasons"
            result = f"{len(batch) / seconds:,.0f} rows/s, peak +{memory.added_mb:,.0f} MB"
            rows.append((f"batch score {len(batch):,} rows, {label}", result))

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure':<{width}}  result")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.json:
        import json

        print(json.dumps({"load_1m": os.getloadavg()[0], "results": dict(rows)}))


if __name__ == "__main__":
    main()
