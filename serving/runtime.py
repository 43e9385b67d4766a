"""What the service decides with: the champion models and the policy, swappable at runtime.

A request takes one reference to the current ``Loaded`` bundle at its start and uses only
that, so ``reload`` (an atomic reference swap under a lock) never changes the models under
a request in flight: it finishes on the old bundle, the next one gets the new.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """One consistent set of models and policy, with the versions each decision records."""

    champions: Any
    policy: Any
    versions: dict[str, str]
    instruments: Any = None  # features.builders.InstrumentIndex of the traded universe
    columns: np.ndarray | None = None  # catalogue positions of the model's columns; None = same order
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


Loader = Callable[[], Loaded]


class NotReady(RuntimeError):
    """No models/policy loaded (yet, or the last load failed)."""


class Runtime:
    def __init__(
        self,
        loader: Loader,
        on_load: Callable[[Loaded], None] | None = None,
        version_loader: ModelVersionLoader | None = None,
    ) -> None:
        self._loader = loader
        # Champion sets of given registry versions (replay of decisions made before a promotion).
        self.version_loader = version_loader
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


class SingleThreadBooster:
    """A LightGBM booster whose ``predict`` runs on the calling thread only.

    One row under OpenMP's default team costs milliseconds (thread wake-up on a shared
    2-core box: 17 ms per scored application measured, vs 1 ms single-threaded), while
    a single row has no parallelism to gain. Passing ``num_threads=1`` per call keeps the
    limit local to these boosters: a training job in the same process keeps its threads.
    """

    def __init__(self, booster: Any) -> None:
        self._booster = booster

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("num_threads", 1)
        return self._booster.predict(data, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


# Where ``models.bundle.ChampionSet`` keeps its boosters: (scorer attribute, booster attribute).
BOOSTER_SLOTS = (("pd", "booster"), ("lgd", "severity"), ("lgd", "loss"))


def single_threaded(champions: Any) -> int:
    """Wrap every booster of a loaded champion set in ``SingleThreadBooster``; return how many."""
    wrapped = 0
    for scorer_name, slot in BOOSTER_SLOTS:
        scorer = getattr(champions, scorer_name, None)
        booster = getattr(scorer, slot, None)
        if booster is None or isinstance(booster, SingleThreadBooster):
            continue
        setattr(scorer, slot, SingleThreadBooster(booster))
        wrapped += 1
    return wrapped


def model_columns(model_features: list[str] | None) -> np.ndarray | None:
    """Catalogue positions of the model's columns (None when the model uses catalogue order).

    The online row is built in catalogue order (the feature code's own order); a model
    trained on a subset or another order reads its columns out of it by index.
    """
    from features.catalogue import feature_names

    catalogue = feature_names()
    if model_features is None or list(model_features) == catalogue:
        return None
    unknown = [name for name in model_features if name not in catalogue]
    if unknown:
        raise NotReady(f"the champion uses features the catalogue does not define: {unknown[:5]}")
    return np.array([catalogue.index(name) for name in model_features], dtype=np.int64)


def load_instruments(path: Path) -> Any:
    """The traded universe the champion was trained on (the population's ``instruments``)."""
    import pandas as pd

    from features.builders import InstrumentIndex

    if not path.is_file():
        raise NotReady(
            f"no instrument master at {path}: set CREDITDESK_INSTRUMENTS_PATH to the "
            "instruments.parquet of the population the champion was trained on"
        )
    return InstrumentIndex.from_frame(pd.read_parquet(path))


def instruments_fingerprint(instruments: Any) -> str:
    """Short sha256 of the universe (tickers and flags): features depend on it, so replay does."""
    digest = hashlib.sha256()
    for name in ("tickers", "volatile", "illiquid"):
        digest.update(repr(np.asarray(getattr(instruments, name)).tolist()).encode())
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """One model download at a time across uvicorn workers sharing ``var/model_cache``."""
    import fcntl

    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def registry_loader(tracking_uri: str, instruments_path: Path | None = None) -> Loader:
    """Champions by alias from the MLflow registry, plus the current policy file.

    ``models.registry.load_champions`` resolves ``models:/creditdesk-pd@champion`` (and LGD,
    EAD), downloads the bundles once into ``var/model_cache`` and returns native boosters;
    nothing of MLflow is touched per request. The instrument master (the trading features'
    universe) is the one shipped with the PD bundle; ``instruments_path`` serves models
    trained without one.

    Imported lazily: these modules pull in lightgbm and mlflow, which ``--help`` and the
    unit tests of the HTTP edge do not need.
    """

    def _load() -> Loaded:
        try:
            import mlflow  # noqa: F401  (imported first so its log handler can be replaced)

            from models.registry import load_champions
        except ImportError as exc:
            raise NotReady(f"models.registry is not available: {exc}") from None
        from serving.logs import adopt_loggers

        adopt_loggers("mlflow", "alembic")
        from creditdesk.settings import get_settings
        from pricing.policy import load_policy

        cache_dir = get_settings().var_dir / "model_cache"
        try:
            with _cache_lock(cache_dir):
                champions = load_champions(tracking_uri, cache_dir=cache_dir)
        except LookupError as exc:
            raise NotReady(str(exc)) from None
        return bundle(champions, load_policy(), instruments_path)

    return _load


def bundle(
    champions: Any, policy: Any, instruments_path: Path | None = None, instruments: Any = None
) -> Loaded:
    """A ``Loaded`` from a champion set and a policy: single-threaded boosters, the
    instrument master (shipped with the PD bundle, else ``instruments_path``), the versions
    each decision records, and the model's column order."""
    single_threaded(champions)
    instruments = getattr(champions, "instruments", None) if instruments is None else instruments
    shipped = getattr(champions, "instruments_path", None)  # the training universe, with the PD
    if instruments is None:
        source = shipped or instruments_path
        if source is None:
            raise NotReady("no instrument master: set CREDITDESK_INSTRUMENTS_PATH")
        instruments = load_instruments(Path(source))
    versions = {str(k): str(v) for k, v in dict(getattr(champions, "versions", {}) or {}).items()}
    versions["policy"] = str(getattr(policy, "version", "unknown"))
    versions["policy_hash"] = str(getattr(policy, "policy_hash", "unknown"))
    versions["instruments"] = instruments_fingerprint(instruments)
    return Loaded(
        champions=champions,
        policy=policy,
        versions=versions,
        instruments=instruments,
        columns=model_columns(getattr(champions, "feature_names", None)),
    )


ModelVersionLoader = Callable[[dict[str, str]], Any]


def registry_version_loader(tracking_uri: str) -> ModelVersionLoader:
    """``{"pd": "3", "lgd": "2", "ead": "2"} -> ChampionSet`` of exactly those registry
    versions (downloaded once into ``var/model_cache``): what replay needs after a promotion.
    Raises ``LookupError`` when a version no longer exists (deleted from the registry)."""

    def _load(model_versions: dict[str, str]) -> Any:
        from mlflow.exceptions import MlflowException

        from creditdesk.settings import get_settings
        from models.registry import EAD_NAME, LGD_NAME, PD_NAME, load_version_set

        wanted = {
            PD_NAME: model_versions["pd"],
            LGD_NAME: model_versions["lgd"],
            EAD_NAME: model_versions["ead"],
        }
        cache_dir = get_settings().var_dir / "model_cache"
        try:
            with _cache_lock(cache_dir):
                champions = load_version_set(wanted, tracking_uri, cache_dir=cache_dir)
        except MlflowException as exc:
            raise LookupError(
                f"model versions {model_versions} are not in the registry any more: {exc}"
            ) from None
        champions.versions["catalogue"] = str(champions.catalogue_version)
        return champions

    return _load
