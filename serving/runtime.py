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

from models.reasons import TabledContribBooster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """One consistent set of models and policy, with the versions each decision records."""

    champions: Any
    policy: Any
    versions: dict[str, str]
    instruments: Any = None  # features.builders.InstrumentIndex of the traded universe
    columns: np.ndarray | None = None  # catalogue positions of the model's columns; None = same order
    # How the PD's reasons are computed ("treeshap_table" after the parity gate, else "native"),
    # and the gate's verdict: /health/ready shows both.
    reasons: dict[str, Any] = field(default_factory=lambda: {"method": "native", "detail": "not checked"})
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
        guard: Callable[[Loaded], None] | None = None,
    ) -> None:
        self._loader = loader
        # Refuses a bundle that must not serve (a policy change nobody approved): raises.
        self.guard = guard
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
                if self.guard is not None:
                    self.guard(loaded)
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
        if booster is None or isinstance(booster, SingleThreadBooster | TabledContribBooster):
            continue  # a tabled booster wraps a single-threaded one already
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
                rows = parity_rows(tracking_uri, champions, cache_dir)
        except LookupError as exc:
            raise NotReady(str(exc)) from None
        return bundle(champions, load_policy(), instruments_path, parity_rows=rows)

    return _load


def bundle(
    champions: Any,
    policy: Any,
    instruments_path: Path | None = None,
    instruments: Any = None,
    *,
    reasons: str = "auto",
    parity_rows: np.ndarray | None = None,
) -> Loaded:
    """A ``Loaded`` from a champion set and a policy: single-threaded boosters, the PD's
    reasons from TreeSHAP tables when the parity gate passes (``reasons``: "auto"; replay
    asks for the method a decision recorded), the instrument master (shipped with the PD
    bundle, else ``instruments_path``), the versions each decision records, and the model's
    column order."""
    single_threaded(champions)
    champions, how = reasons_path(champions, reasons, parity_rows)
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
    versions["reasons"] = how["method"]
    return Loaded(
        champions=champions,
        policy=policy,
        versions=versions,
        instruments=instruments,
        columns=model_columns(getattr(champions, "feature_names", None)),
        reasons=how,
    )


def _with_pd_booster(champions: Any, booster: Any) -> Any:
    """A copy of the champion set whose PD uses ``booster`` (the original is left as it was,
    so a replay of a decision made the other way can still use it)."""
    import dataclasses

    return dataclasses.replace(champions, pd=dataclasses.replace(champions.pd, booster=booster))


def reasons_path(champions: Any, method: str, parity_rows: np.ndarray | None) -> tuple[Any, dict[str, Any]]:
    """The champion set to score with and how its reasons are computed.

    "auto": TreeSHAP tables (``models.reasons.TreeShap``) when the parity gate holds on the
    PD's validation rows plus rows probing every split (same top-4 reasons, contributions
    within 1e-9 of native ``pred_contrib``), else LightGBM's native TreeSHAP, with the
    reason. "native" / "treeshap_table": that method (replay recomputes the way a decision
    recorded it was made; the tables are deterministic for a booster).
    """
    from models.reasons import TreeShap, TreeShapUnsupported, probe_rows, treeshap_parity

    scorer = getattr(champions, "pd", None)
    booster = getattr(scorer, "booster", None)
    if booster is None or not hasattr(booster, "dump_model"):
        return champions, {"method": "native", "detail": "no LightGBM PD booster"}
    native = booster._booster if isinstance(booster, TabledContribBooster) else booster
    if method == "native":
        return _with_pd_booster(champions, native), {"method": "native", "detail": "asked for"}
    if isinstance(booster, TabledContribBooster):
        shap = booster.treeshap
    else:
        try:
            shap = TreeShap(native)
        except TreeShapUnsupported as exc:
            return _with_pd_booster(champions, native), {"method": "native", "detail": str(exc)}
    if method == "auto":
        probes = probe_rows(shap)
        rows = probes if parity_rows is None else np.vstack([parity_rows, probes])
        verdict = treeshap_parity(shap, native, rows)
        source = "probe rows" if parity_rows is None else f"{len(parity_rows)} validation rows + probe rows"
        how = {"method": "treeshap_table" if verdict.passed else "native", "parity_passed": verdict.passed,
               "detail": f"{verdict.detail} ({source})"}  # fmt: skip
        if not verdict.passed:
            log.warning("reasons: TreeSHAP tables failed the parity gate", extra={"parity": how["detail"]})
            return _with_pd_booster(champions, native), how
    else:
        how = {"method": "treeshap_table", "detail": "asked for (replay)"}
    return _with_pd_booster(champions, TabledContribBooster(native, shap)), how


MAX_PARITY_ROWS = 2000


def parity_rows(tracking_uri: str, champions: Any, cache_dir: Path) -> np.ndarray | None:
    """The PD's validation set (the hold-out its training run stored), as model rows; None
    when the run has none (the gate then checks probe rows only and says so)."""
    try:
        import mlflow.artifacts
        import pandas as pd

        from models.registry import HOLDOUT_ARTIFACT, HOLDOUT_TARGET, PD_NAME, client

        version = str(champions.versions["pd"])
        target = cache_dir / "parity" / f"pd-{version}"
        path = target / Path(HOLDOUT_ARTIFACT).name
        if not path.is_file():
            run_id = client(tracking_uri).get_model_version(PD_NAME, version).run_id
            target.mkdir(parents=True, exist_ok=True)
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=HOLDOUT_ARTIFACT, tracking_uri=tracking_uri, dst_path=str(target)
            )
        frame = pd.read_parquet(path).drop(columns=[HOLDOUT_TARGET])
        return np.asarray(champions.pd.encoder.transform(frame.head(MAX_PARITY_ROWS)), dtype=np.float64)
    except Exception as exc:  # no hold-out stored: the gate still runs on probe rows
        error = f"{type(exc).__name__}: {exc}"
        log.info("no validation rows for the reasons parity gate", extra={"error": error})
        return None


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
