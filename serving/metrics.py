"""Prometheus metrics of one app instance (own registry, so test apps don't collide).

With several uvicorn workers each process counts its own requests; set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before starting and ``/metrics`` then
aggregates all workers (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Decision latency is sub-millisecond in process and a few ms over HTTP: buckets resolve that.
LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        # In multiprocess mode values go to files, collected at scrape time: register nowhere.
        registry = None if self.multiprocess else self.registry
        self.request_latency = Histogram(
            "creditdesk_http_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.decision_latency = Histogram(
            "creditdesk_decision_duration_seconds",
            "in-process decision latency (features, models, pricing), per application",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.decisions = Counter(
            "creditdesk_decisions_total",
            "decisions made, by outcome and grade",
            ["outcome", "grade"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "creditdesk_rate_limited_total", "requests refused with 429", ["role"], registry=registry
        )
        self.model_info = Gauge(
            "creditdesk_model_info",
            "1 for each loaded champion model version (and the policy version)",
            ["component", "version"],
            multiprocess_mode="liveall",
            registry=registry,
        )
        self.ready = Gauge(
            "creditdesk_ready",
            "1 when models and policy are loaded",
            multiprocess_mode="liveall",
            registry=registry,
        )

    def set_versions(self, versions: Mapping[str, str]) -> None:
        """Replace the model-version labels (after a load or reload)."""
        self.model_info.clear()
        for component, version in versions.items():
            self.model_info.labels(component=component, version=str(version)).set(1)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
