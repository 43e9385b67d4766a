"""Benchmark of the trading-behaviour features: batch (numpy core), Dask, online; with baselines.

Run: ``.venv/bin/python benchmarks/bench_features.py [--sizes 100000,1000000] [--skip-dask]``

What is measured (one table at the end):
- batch: ``features.builders.trading_features`` on N customers, single process, one core;
  rows/s counts customers (applications). 1M customers run as ten chunks of 100k (generated
  one after another, the way a job streams customer-partitioned files), which bounds memory;
  results are identical to one pass because each customer's features only use its own events.
  String columns are categoricals, as ``creditdesk features`` reads parquet (dictionaries);
  the 100k run is repeated with plain object strings (what a default ``read_parquet`` gives).
- Dask rows and the load average are there because the machine is shared: timings move with
  the other engineers' load, which the calibration line (cost of one tiny numpy op) shows.
- Dask: the same builder with ``map_partitions`` on a 2-worker ``LocalCluster`` (one thread
  each); inputs are generated on the workers and persisted first, so the time is the build.
- baselines: the same core called one customer at a time (what a naive loop costs), and a
  plain pandas ``groupby`` computing only 4 of the 17 trading features.
- online: ``features.builders.online_features`` for one applicant; wall-clock and thread CPU
  time per call, p50 and p99 in microseconds.

Peak memory: tracemalloc peak of the build call (numpy and pandas buffers), and for Dask the
peak RSS of each worker process. The data is a fast synthetic population made here (about 20
trades per customer, round trips over a 200-name universe), not ``creditdesk generate``, which
makes 2000 customers a second and would dominate the run at 1M.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import creditdesk  # noqa: F401  (telemetry off)
from features.builders import (
    FlowArrays,
    InstrumentIndex,
    TradeArrays,
    online_features,
    trading_block,
    trading_features,
)

N_TICKERS = 200
BASE = np.datetime64("2015-01-05", "ns")
DAY_NS = 86_400 * 10**9


def instruments_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    vol = rng.uniform(0.15, 0.9, N_TICKERS)
    return pd.DataFrame(
        {
            "ticker": np.array([f"T{i:03d}" for i in range(N_TICKERS)], dtype=object),
            "sector": "any",
            "volatility_annual": vol,
            "adv_shares": rng.lognormal(13, 1.5, N_TICKERS),
            "volatile": vol >= np.quantile(vol, 0.8),
        }
    )


def population(n: int, seed: int, first_id: int = 1) -> dict[str, pd.DataFrame]:
    """Applications, account dates, trades and cash flows of ``n`` customers, vectorised."""
    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    opened_day = rng.integers(0, 1500, n)
    history_days = rng.integers(90, 1000, n)
    app_ns = BASE + (opened_day + history_days) * DAY_NS
    opened_ns = BASE + opened_day * DAY_NS
    trips = np.minimum(rng.poisson(10, n), 60)
    owner = np.repeat(np.arange(n), trips)
    m = len(owner)
    basket = rng.integers(0, N_TICKERS, (n, 6))
    ticker = basket[owner, rng.integers(0, 6, m)]
    buy_ns = opened_ns[owner] + (rng.random(m) * history_days[owner] * DAY_NS).astype(np.int64)
    sell_ns = buy_ns + (rng.exponential(20.0, m) * DAY_NS).astype(np.int64) + 60 * 10**9
    closed = sell_ns < app_ns[owner]
    qty = rng.integers(1, 1000, m)
    buy_px = np.round(rng.uniform(5, 500, m), 4)
    sell_px = np.round(buy_px * (1 + 0.1 * rng.standard_normal(m)).clip(0.2), 4)
    trip_no = np.arange(m) - np.repeat(np.cumsum(trips) - trips, trips)
    tickers = instruments_table()["ticker"].to_numpy()
    sells = np.flatnonzero(closed)
    trades = pd.DataFrame(
        {
            "trade_id": np.concatenate(
                [ids[owner] * 1000 + 2 * trip_no, ids[owner[sells]] * 1000 + 2 * trip_no[sells] + 1]
            ),
            "customer_id": np.concatenate([ids[owner], ids[owner[sells]]]),
            "timestamp": np.concatenate([buy_ns, sell_ns[sells]]).astype("datetime64[ns]"),
            "ticker": np.concatenate([tickers[ticker], tickers[ticker[sells]]]),
            "side": np.concatenate(
                [np.full(m, "buy", dtype=object), np.full(len(sells), "sell", dtype=object)]
            ),
            "quantity": np.concatenate([qty, qty[sells]]),
            "price": np.concatenate([buy_px, sell_px[sells]]),
            "fees_minor": np.full(m + len(sells), 100, dtype=np.int64),
        }
    ).sort_values(["customer_id", "timestamp", "trade_id"], ignore_index=True)
    k = np.minimum(rng.poisson(3, n), 30)
    f_owner = np.repeat(np.arange(n), k)
    flows = pd.DataFrame(
        {
            "customer_id": np.concatenate([ids, ids[f_owner]]),
            "timestamp": np.concatenate(
                [
                    opened_ns,
                    opened_ns[f_owner]
                    + (rng.random(len(f_owner)) * history_days[f_owner] * DAY_NS).astype(np.int64),
                ]
            ).astype("datetime64[ns]"),
            "kind": np.concatenate(
                [
                    np.full(n, "deposit", dtype=object),
                    np.where(rng.random(len(f_owner)) < 0.7, "deposit", "withdrawal").astype(object),
                ]
            ),
            "amount_minor": np.concatenate(
                [rng.integers(10**5, 10**8, n), rng.integers(10**4, 10**7, len(f_owner))]
            ),
        }
    ).sort_values(["customer_id", "timestamp"], kind="stable", ignore_index=True)
    applications = pd.DataFrame(
        {
            "application_id": ids + 10**9,
            "customer_id": ids,
            "application_date": app_ns.astype("datetime64[ns]"),
            "requested_line_minor": rng.integers(10**5, 10**8, n),
            "platform_assets_minor": rng.integers(10**5, 10**8, n),
        }
    )
    customers = pd.DataFrame({"customer_id": ids, "account_opened_date": opened_ns.astype("datetime64[ns]")})
    return {"applications": applications, "customers": customers, "trades": trades, "cash_flows": flows}


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def as_categories(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """String columns as categoricals, which is how ``creditdesk features`` reads parquet."""
    out = dict(tables)
    out["trades"] = tables["trades"].astype({"ticker": "category", "side": "category"})
    out["cash_flows"] = tables["cash_flows"].astype({"kind": "category"})
    return out


def bench_batch(
    n: int, index: InstrumentIndex, chunk: int = 100_000, categorical: bool = True
) -> dict[str, object]:
    seconds, peak, trades = 0.0, 0, 0
    for c, first in enumerate(range(0, n, chunk)):
        size = min(chunk, n - first)
        tables = population(size, seed=1000 + c, first_id=first + 1)
        tables = as_categories(tables) if categorical else tables
        trades += len(tables["trades"])
        _, s, p = _timed(trading_features, tables, index)
        seconds, peak = seconds + s, max(peak, p)
        del tables
    note = f"{-(-n // chunk)} chunks of {chunk:,}" if n > chunk else "one pass"
    return {
        "path": f"batch numpy core, 1 process, {'categorical' if categorical else 'object'} strings",
        "customers": n,
        "trades": trades,
        "seconds": seconds,
        "peak_mb": peak / 2**20,
        "note": note,
    }


def bench_loop_baseline(tables: dict[str, pd.DataFrame], index: InstrumentIndex, n: int) -> dict[str, object]:
    """The same core called once per customer: what not vectorising across customers costs."""
    apps = tables["applications"].iloc[:n]
    trades = tables["trades"]
    flows = tables["cash_flows"]
    t_bounds = np.searchsorted(trades["customer_id"].to_numpy(), apps["customer_id"].to_numpy(), side="left")
    t_ends = np.searchsorted(trades["customer_id"].to_numpy(), apps["customer_id"].to_numpy(), side="right")
    f_bounds = np.searchsorted(flows["customer_id"].to_numpy(), apps["customer_id"].to_numpy(), side="left")
    f_ends = np.searchsorted(flows["customer_id"].to_numpy(), apps["customer_id"].to_numpy(), side="right")
    cols = {c: trades[c].to_numpy() for c in trades.columns}
    codes = index.codes(cols["ticker"])
    ts = cols["timestamp"].view(np.int64)
    fts = flows["timestamp"].to_numpy().view(np.int64)
    fkind = flows["kind"].to_numpy() == "deposit"
    famount = flows["amount_minor"].to_numpy()
    app_ns = apps["application_date"].to_numpy().view(np.int64)
    opened = tables["customers"]["account_opened_date"].to_numpy().view(np.int64)
    assets = apps["platform_assets_minor"].to_numpy()
    start = time.perf_counter()
    for i in range(n):
        a, b = t_bounds[i], t_ends[i]
        fa, fb = f_bounds[i], f_ends[i]
        trading_block(
            application_ns=app_ns[i : i + 1],
            opened_ns=opened[i : i + 1],
            platform_assets_minor=assets[i : i + 1],
            trades=TradeArrays(
                np.zeros(b - a, np.int64),
                cols["trade_id"][a:b],
                ts[a:b],
                codes[a:b],
                cols["side"][a:b] == "buy",
                cols["quantity"][a:b],
                cols["price"][a:b],
                cols["fees_minor"][a:b],
            ),
            flows=FlowArrays(np.zeros(fb - fa, np.int64), fts[fa:fb], fkind[fa:fb], famount[fa:fb]),
            instruments=index,
        )
    seconds = time.perf_counter() - start
    return {
        "path": "baseline: same core, one customer per call",
        "customers": n,
        "trades": int((t_ends - t_bounds).sum()),
        "seconds": seconds,
        "peak_mb": float("nan"),
        "note": "sample",
    }


def pandas_groupby_subset(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Peer: plain pandas for 4 features (trade count, 12m turnover, days since last trade, HHI)."""
    trades = tables["trades"].merge(
        tables["applications"][["customer_id", "application_date", "platform_assets_minor"]], on="customer_id"
    )
    trades = trades[trades["timestamp"] < trades["application_date"]]
    cash = (trades["quantity"] * trades["price"] * 100).round()
    age_days = (trades["application_date"] - trades["timestamp"]).dt.total_seconds() / 86_400
    trades = trades.assign(
        cash=cash,
        age_days=age_days,
        recent_cash=cash.where(age_days <= 365, 0.0),
        signed=np.where(trades["side"] == "buy", 1, -1) * trades["quantity"],
    )
    per = trades.groupby("customer_id").agg(
        trade_count=("trade_id", "size"),
        recent=("recent_cash", "sum"),
        last=("age_days", "min"),
        assets=("platform_assets_minor", "first"),
    )
    per["turnover"] = per["recent"] / per["assets"].clip(lower=100)
    pos = trades.groupby(["customer_id", "ticker"]).agg(held=("signed", "sum"), price=("price", "last"))
    pos = pos[pos["held"] > 0]
    value = pos["held"] * pos["price"]
    total = value.groupby(level=0).sum()
    per["hhi"] = (value**2).groupby(level=0).sum() / total**2
    return per


def bench_pandas_peer(n: int) -> dict[str, object]:
    tables = population(n, seed=77)
    _, seconds, peak = _timed(pandas_groupby_subset, tables)
    return {
        "path": "peer: pandas groupby, 4 of 17 features",
        "customers": n,
        "trades": len(tables["trades"]),
        "seconds": seconds,
        "peak_mb": peak / 2**20,
        "note": "subset only",
    }


def _gen_part(part: int, kind: str, size: int) -> pd.DataFrame:
    tables = as_categories(population(size, seed=5000 + part, first_id=part * size + 1))
    if kind == "apps":
        frame = tables["applications"].merge(tables["customers"], on="customer_id")
    else:
        frame = tables[kind]
    frame.index = pd.Index(frame["customer_id"].to_numpy(), name="customer_key")
    return frame


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_dask(n: int, index: InstrumentIndex, part_size: int = 50_000) -> dict[str, object]:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster, wait

    from features.distributed import trading_features_partitioned

    parts = -(-n // part_size)
    size = min(part_size, n)
    divisions = [p * size + 1 for p in range(parts)] + [parts * size]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="6GiB"
        ) as cluster,
        Client(cluster) as client,
    ):
        frames = []
        for kind in ("apps", "trades", "cash_flows"):
            meta = _gen_part(0, kind, 2).iloc[:0]
            frames.append(
                dd.from_map(
                    _gen_part,
                    range(parts),
                    kind=kind,
                    size=size,
                    meta=meta,
                    divisions=divisions,
                    enforce_metadata=False,
                ).persist()
            )
        wait(frames)
        trades = int(frames[1].map_partitions(len).sum().compute())
        start = time.perf_counter()
        result = trading_features_partitioned(*frames, index).persist()
        wait(result)
        seconds = time.perf_counter() - start
        rows = int(result.map_partitions(len).sum().compute())
        peaks = client.run(_peak_rss_mb)
    assert rows == parts * size
    return {
        "path": "Dask map_partitions, LocalCluster 2 workers x 1 thread",
        "customers": rows,
        "trades": trades,
        "seconds": seconds,
        "peak_mb": max(peaks.values()),
        "note": f"{parts} partitions; peak = worker RSS incl. inputs",
    }


def bench_online(
    tables: dict[str, pd.DataFrame], index: InstrumentIndex, calls: int = 3000
) -> dict[str, float]:
    customer = {
        "age": 40,
        "annual_income_minor": 9_000_000,
        "net_worth_minor": 40_000_000,
        "liquid_assets_minor": 5_000_000,
        "employment": "employed",
        "investing_experience_years": 6,
        "risk_questionnaire_score": 50,
        "identity_verified": True,
        "is_pep": False,
        "pep_reviewed": False,
        "sanctions_hit": False,
    }
    bureau = {
        "bureau_score": 710,
        "open_accounts": 4,
        "credit_utilisation": 0.3,
        "delinquencies_24m": 0,
        "inquiries_6m": 1,
        "oldest_account_months": 90,
        "debt_to_income": 0.25,
        "bureau_default_24m": False,
    }
    apps = tables["applications"]
    customers = tables["customers"].set_index("customer_id")
    trades = dict(tuple(tables["trades"].groupby("customer_id")))
    flows = dict(tuple(tables["cash_flows"].groupby("customer_id")))
    empty_t, empty_f = tables["trades"].iloc[:0], tables["cash_flows"].iloc[:0]
    rng = np.random.default_rng(3)
    requests = []
    for i in rng.integers(0, len(apps), 500):
        app = apps.iloc[int(i)]
        cid = int(app["customer_id"])
        t, f = trades.get(cid, empty_t), flows.get(cid, empty_f)
        requests.append(
            {
                "application": app.to_dict(),
                "customer": {**customer, "account_opened_date": customers.loc[cid, "account_opened_date"]},
                "bureau": bureau,
                "trades": {c: t[c].to_numpy() for c in t.columns},
                "cash_flows": {c: f[c].to_numpy() for c in f.columns},
                "instruments": index,
            }
        )
    for r in requests[:100]:
        online_features(**r)
    wall, cpu = np.empty(calls), np.empty(calls)
    for k in range(calls):
        request = requests[k % len(requests)]
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        online_features(**request)
        cpu[k] = time.thread_time_ns() - c0
        wall[k] = time.perf_counter_ns() - w0
    sizes = [len(r["trades"]["trade_id"]) for r in requests]
    return {
        "wall_p50_us": np.percentile(wall, 50) / 1e3,
        "wall_p99_us": np.percentile(wall, 99) / 1e3,
        "cpu_p50_us": np.percentile(cpu, 50) / 1e3,
        "cpu_p99_us": np.percentile(cpu, 99) / 1e3,
        "trades_per_request_mean": float(np.mean(sizes)),
        "trades_per_request_max": float(np.max(sizes)),
    }


def calibration_us() -> float:
    """Per-call cost of a tiny numpy operation: the online path is about 150 of them."""
    import timeit

    a = np.arange(60.0)
    return min(timeit.repeat(lambda: a[a > 3], number=20_000, repeat=5)) / 20_000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="customer counts, comma separated")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    index = InstrumentIndex.from_frame(instruments_table())
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (shared machine)")

    rows = []
    for n in sizes:
        if n == min(sizes):
            rows.append(bench_batch(n, index, categorical=False))
        rows.append(bench_batch(n, index))
        print(f"  done: batch {n:,}", flush=True)
    sample = population(20_000, seed=9)
    rows.append(bench_loop_baseline(sample, index, 2_000))
    rows.append(bench_pandas_peer(min(sizes)))
    if not args.skip_dask:
        for n in sizes:
            rows.append(bench_dask(n, index))
            print(f"  done: dask {n:,}", flush=True)
    online = bench_online(sample, index)

    print()
    header = (
        f"{'path':<56} {'customers':>10} {'trades':>11} {'seconds':>8} {'customers/s':>12} {'peak MB':>8}"
    )
    print(header + "  note")
    for r in rows:
        rate = r["customers"] / r["seconds"]  # type: ignore[operator]
        print(
            f"{r['path']:<56} {r['customers']:>10,} {r['trades']:>11,} {r['seconds']:>8.2f} {rate:>12,.0f} "
            f"{r['peak_mb']:>8.0f}  {r['note']}"
        )
    print()
    mean, most = online["trades_per_request_mean"], online["trades_per_request_max"]
    print(f"online path (online_features): {mean:.0f} trades per request on average (max {most:.0f}):")
    print(f"  wall clock  p50 {online['wall_p50_us']:7.0f} us   p99 {online['wall_p99_us']:7.0f} us")
    print(f"  thread CPU  p50 {online['cpu_p50_us']:7.0f} us   p99 {online['cpu_p99_us']:7.0f} us")
    print(
        f"calibration: one 60-element numpy boolean mask costs {calibration_us():.2f} us on this machine now"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
