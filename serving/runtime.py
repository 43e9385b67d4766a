"""What the service decides with: the champion models and the policy, swappable at runtime.

A request takes one reference to the current ``Loaded`` bundle at its start and uses only
that, so ``reload`` (an atomic reference swap under a lock) never changes the models under
a request in flight: it finishes on the old bundle, the next one gets the new.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("creditdesk.serving")


@dataclass(frozen=True)
class Loaded:
    """One consistent set of models and policy, with the versions each decision records."""

    champions: Any
    policy: Any
    versions: dict[str, str]
    instruments: Any = None  # features.builders.InstrumentIndex of the traded universe
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


Loader = Callable[[], Loaded]


class NotReady(RuntimeError):
    """No models/policy loaded (yet, or the last load failed)."""


class Runtime:
    def __init__(self, loader: Loader, on_load: Callable[[Loaded], None] | None = None) -> None:
        self._loader = loader
        self._on_load = on_load
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = "models not loaded yet"
        self.load_seconds: float | None = None

    @property
    def current(self) -> Loaded | None:
        return self._loaded

    def require(self) -> Loaded:
        loaded = self._loaded
        if loaded is None:
            raise NotReady(self.last_error or "models not loaded")
        return loaded

    def load(self) -> Loaded:
        """Load a fresh bundle and swap it in; on failure keep serving the previous one."""
        with self._lock:
            start = time.perf_counter()
            try:
                loaded = self._loader()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model load failed", extra={"error": self.last_error})
                raise
            self._loaded = loaded
            self.last_error = None
            if self._on_load is not None:
                self._on_load(loaded)
            self.load_seconds = time.perf_counter() - start
            log.info(
                "models loaded",
                extra={"versions": loaded.versions, "load_seconds": round(self.load_seconds, 3)},
            )
            return loaded

    def load_in_background(self) -> threading.Thread:
        """Start loading without blocking start-up (``/health/live`` answers meanwhile)."""

        def _run() -> None:
            with contextlib.suppress(Exception):  # recorded in last_error; /health/ready reports it
                self.load()

        thread = threading.Thread(target=_run, name="creditdesk-model-load", daemon=True)
        thread.start()
        return thread


def registry_loader(tracking_uri: str) -> Loader:
    """Champions by alias from the MLflow registry, plus the current policy file.

    Imported lazily: these modules pull in lightgbm and mlflow, which ``--help`` and the
    unit tests of the HTTP edge do not need.
    """

    def _load() -> Loaded:
        try:
            from models.registry import load_champions  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise NotReady(f"models.registry is not available: {exc}") from None
        from pricing.policy import load_policy

        champions = load_champions(tracking_uri)
        policy = load_policy()
        versions = {str(k): str(v) for k, v in dict(getattr(champions, "versions", {}) or {}).items()}
        versions["policy"] = str(getattr(policy, "version", "unknown"))
        versions["policy_hash"] = str(getattr(policy, "policy_hash", "unknown"))
        instruments = getattr(champions, "instruments", None)
        return Loaded(champions=champions, policy=policy, versions=versions, instruments=instruments)

    return _load
