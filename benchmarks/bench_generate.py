"""Benchmark: synthetic population generation — customers per second and peak memory.

Run: ``.venv/bin/python benchmarks/bench_generate.py [--sizes 10000 100000 1000000]``.
Each size runs in a fresh subprocess so peak RSS (ru_maxrss) is that run's alone. The peer
is a plain pandas write of the same number of customer rows (the floor for any generator
that writes parquet), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from pathlib import Path
import creditdesk
from creditdesk.settings import get_settings
from pipelines.generate import generate_population
n, out = int(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
m = generate_population(n, 42, out, prices_path=get_settings().sp500_prices_path)
seconds = time.perf_counter() - t0
size = sum(p.stat().st_size for p in out.glob('*.parquet'))
print(json.dumps({"customers": n, "seconds": seconds, "trades": m["rows"]["trades"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": size, "source": m["price_source"]}))
"""

PEER = """
import json, resource, sys, time
import numpy as np, pandas as pd
n, out = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
rng = np.random.default_rng(0)
pd.DataFrame({"customer_id": np.arange(n), "age": rng.integers(18, 80, n),
              "income": rng.lognormal(11, 0.5, n)}).to_parquet(out)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=ROOT / "var" if (ROOT / "var").exists() else None) as tmp:
            result = run(CHILD, str(n), str(Path(tmp) / "pop"))
            peer = run(PEER, str(n), str(Path(tmp) / "peer.parquet"))
        rows.append((n, result, peer))
        print(
            f"{n:>10,} customers  {result['seconds']:8.1f} s  {n / result['seconds']:>9,.0f} customers/s  "
            f"peak {result['peak_rss_mb']:7.0f} MB  {result['trades']:>12,} trades  "
            f"{result['bytes'] / 1e6:8.0f} MB on disk  | peer (one-table pandas write) "
            f"{peer['seconds']:.2f} s, peak {peer['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    print(f"(prices: {rows[0][1]['source']}; peak RSS per run in its own process; 2-core machine)")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
