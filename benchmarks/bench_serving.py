"""Benchmark: decision latency in process and over HTTP, against ``mlflow models serve``.

Run on demand: ``.venv/bin/python benchmarks/bench_serving.py [--customers 3000] [--requests 400]``.
Not a test. In one run, on one champion trained here on a synthetic population:

- (a) in process, one application: ``serving.decide.compute`` (online features → champion
  scoring with reasons → ``pricing.decide``), its three steps alone, and the whole
  ``DecisionService.decide`` with the PII vault and the hash-chained journal on SQLite;
- (b) HTTP ``POST /v1/decisions`` against ``creditdesk serve --workers 2`` (every request a
  new application, so each is computed and journalled), at concurrency 1 and 16;
- (c) the same load shape against ``mlflow models serve -w 2`` of the PD model alone
  (``models:/creditdesk-pd@champion``, one row per request): the usual way to serve an
  MLflow model, which does less work (no features, no LGD/EAD, no pricing, no journal).

The load generator (asyncio + httpx) runs on the same 2-core machine as the servers and
is the same for (b) and (c). The champion, population and registry are kept under
``var/bench_serving`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


def run(args: list[str], env: dict[str, str], timeout_s: float = 900) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(var: Path, customers: int, env: dict[str, str]) -> Path:
    """A promoted champion in ``var``'s registry (made once; later runs reuse it)."""
    raw = var / "raw"
    if (var / "champion.json").is_file():
        return raw
    print(f"preparing: {customers:,} customers → train → promote (once, kept in {var})", flush=True)
    run(
        [
            str(BIN / "creditdesk"),
            "generate",
            "--customers",
            str(customers),
            "--seed",
            "1",
            "--out",
            str(raw),
        ],
        env,
    )
    trained = run([str(BIN / "creditdesk"), "train", "--features", str(raw), "--json"], env)
    promoted = json.loads(run([str(BIN / "creditdesk"), "promote", "--json"], env).strip().splitlines()[-1])
    if not promoted["promoted"]:
        run([str(BIN / "creditdesk"), "promote", "--force", "--reason", "benchmark", "--json"], env)
    (var / "champion.json").write_text(trained.strip().splitlines()[-1])
    return raw


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    values = np.asarray(samples_s) * 1e3
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(min(20, n)):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def example(application_id: int) -> dict[str, Any]:
    from serving.schemas import DecisionRequest

    extra: Any = DecisionRequest.model_config["json_schema_extra"]
    body: dict[str, Any] = copy.deepcopy(extra["examples"][0])
    body["application_id"] = application_id
    return body


def in_process(var: Path, raw: Path, env: dict[str, str], n: int) -> list[tuple[str, list[float]]]:
    os.environ.update(env)
    from serving.app import build_services
    from serving.config import ServingSettings
    from serving.decide import DecisionService, compute, feature_row
    from serving.runtime import registry_loader
    from serving.schemas import DecisionRequest

    loaded = registry_loader(env["MLFLOW_TRACKING_URI"], raw / "instruments.parquet")()
    request = DecisionRequest.model_validate(example(1))
    row = feature_row(request, loaded)
    scored = loaded.champions.score(row.reshape(1, -1))
    from pricing.decision import DecisionInputs, decide

    inputs = DecisionInputs(
        pd_12m=scored.pd_12m,
        lgd=scored.lgd,
        ccf=scored.ccf,
        grade=scored.grade,
        requested_line_minor=np.array([request.requested_line_minor]),
        platform_assets_minor=np.array([request.platform_assets_minor]),
        annual_income_minor=np.array([request.kyc.annual_income_minor]),
        age=np.array([float(request.kyc.age)]),
        identity_verified=np.array([True]),
        is_pep=np.array([False]),
        pep_reviewed=np.array([False]),
        sanctions_hit=np.array([False]),
        trading_history_days=np.array([1000.0]),
        bureau_default_24m=np.array([False]),
    )
    rows = [
        ("  features (online_features)", timed(lambda: feature_row(request, loaded), n)),
        ("  models (score + reasons)", timed(lambda: loaded.champions.score(row.reshape(1, -1)), n)),
        ("  pricing (decide + record)", timed(lambda: decide(inputs, loaded.policy).record(0), n)),
        ("(a) compute: features → models → pricing", timed(lambda: compute(request, loaded), n)),
    ]
    settings = ServingSettings(var_dir=var / "inproc", load_models_on_startup=False)
    svc = build_services(settings, loader=lambda: loaded)
    svc.runtime.load()
    service = DecisionService(svc)
    first_id = time.time_ns() // 1000  # new applications on every run (a resend would be replayed)
    ids = iter(range(first_id, first_id + 10_000_000))
    bodies = [DecisionRequest.model_validate(example(next(ids))) for _ in range(n + 20)]
    it = iter(bodies)
    rows.append(("(a) decide + PII vault + journal (SQLite)", timed(lambda: service.decide(next(it)), n)))
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    args: list[str], env: dict[str, str], probe: str, log: Path, timeout_s: float = 180
) -> subprocess.Popen[bytes]:
    import httpx

    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{args[0]} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(probe, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(proc)
    raise SystemExit(f"{args[0]} not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def _load(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int
) -> tuple[list[float], float, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors
            for body in queue:
                start = time.perf_counter()
                response = await client.post(url, content=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code >= 300:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def load(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int
) -> tuple[list[float], float, int]:
    warm, rest = bodies[:20], bodies[20:]
    asyncio.run(_load(url, warm, headers, min(concurrency, 4)))
    return asyncio.run(_load(url, rest, headers, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=400, help="HTTP requests per concurrency level")
    parser.add_argument("--inproc", type=int, default=1000, help="in-process repetitions")
    parser.add_argument("--var", type=Path, default=ROOT / "var" / "bench_serving")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["inproc", "mlflow"], help="parts to leave out"
    )
    opts = parser.parse_args()
    var = opts.var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITDESK_", "MLFLOW_TRACKING"))}
    env.update(TELEMETRY_OFF)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow models serve execs `uvicorn`
    env.update(CREDITDESK_VAR_DIR=str(var), MLFLOW_TRACKING_URI=f"sqlite:///{var / 'mlflow.db'}")
    raw = prepare(var, opts.customers, env)

    rows: list[tuple[str, float, float, str]] = []
    for label, samples in [] if "inproc" in opts.skip else in_process(var, raw, env, opts.inproc):
        p50, p99 = percentiles(samples)
        rows.append((label, p50, p99, f"n={len(samples)}"))
        print(f"{label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", flush=True)

    from features.catalogue import feature_names
    from serving.decide import feature_row
    from serving.runtime import Loaded, load_instruments
    from serving.schemas import DecisionRequest

    serve_env = {
        **env,
        "CREDITDESK_INSTRUMENTS_PATH": str(raw / "instruments.parquet"),
        "CREDITDESK_RATE_LIMIT_PER_MINUTE": "100000000",
        "CREDITDESK_RATE_LIMIT_BURST": "100000",
        "CREDITDESK_LOG_LEVEL": "WARNING",
    }
    token = (
        run([str(BIN / "creditdesk"), "keys", "create", "--role", "onboarding"], serve_env)
        .strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = start(
        [str(BIN / "creditdesk"), "serve", "--port", str(port), "--workers", "2"],
        serve_env,
        f"http://127.0.0.1:{port}/health/ready",
        var / "serve.log",
    )
    next_id = int(time.time() * 1000) % 10**12 * 1000
    try:
        for concurrency in (1, 16):
            bodies = []
            for _ in range(opts.requests + 20):
                next_id += 1
                bodies.append(json.dumps(example(next_id)).encode())
            lat, elapsed, errors = load(
                f"http://127.0.0.1:{port}/v1/decisions",
                bodies,
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                concurrency,
            )
            p50, p99 = percentiles(lat)
            print(f"creditdesk c={concurrency}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", flush=True)
            rows.append(
                (f"(b) HTTP creditdesk decision, 2 workers, c={concurrency}", p50, p99,
                 f"{len(lat) / elapsed:.0f} req/s, {errors} errors")
            )  # fmt: skip
    finally:
        stop(server)

    if "mlflow" in opts.skip:
        report(rows)
        return
    instruments = load_instruments(raw / "instruments.parquet")
    request = DecisionRequest.model_validate(example(1))
    row = feature_row(request, Loaded(None, None, {}, instruments))
    names = feature_names()
    payload = json.dumps(
        {"dataframe_split": {"columns": names, "data": [[None if np.isnan(v) else float(v) for v in row]]}}
    ).encode()
    port = free_port()
    mlflow_server = start(
        [str(BIN / "mlflow"), "models", "serve", "-m", "models:/creditdesk-pd@champion",
         "--env-manager", "local", "-p", str(port), "-w", "2"],
        env,
        f"http://127.0.0.1:{port}/ping",
        var / "mlflow_serve.log",
    )  # fmt: skip
    try:
        for concurrency in (1, 16):
            lat, elapsed, errors = load(
                f"http://127.0.0.1:{port}/invocations",
                [payload] * (opts.requests + 20),
                {"Content-Type": "application/json"},
                concurrency,
            )
            p50, p99 = percentiles(lat)
            rows.append(
                (f"(c) HTTP mlflow models serve (PD only), 2 workers, c={concurrency}", p50, p99,
                 f"{len(lat) / elapsed:.0f} req/s, {errors} errors")
            )  # fmt: skip
    finally:
        stop(mlflow_server)

    report(rows)


def report(rows: list[tuple[str, float, float, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'p50 ms':>8}  {'p99 ms':>8}  notes")
    for label, p50, p99, note in rows:
        print(f"{label:<{width}}  {p50:>8.3f}  {p99:>8.3f}  {note}")
    ours = {r[0].split("c=")[-1]: r[1] for r in rows if r[0].startswith("(b)")}
    theirs = {r[0].split("c=")[-1]: r[1] for r in rows if r[0].startswith("(c)")}
    for c in sorted(set(ours) & set(theirs)):
        print(f"p50 ratio mlflow / creditdesk at c={c}: {theirs[c] / ours[c]:.1f}x")


if __name__ == "__main__":
    main()
