"""The MLflow registry adapter: register bundles, move aliases, load champions.

Names: ``creditdesk-pd``, ``creditdesk-lgd``, ``creditdesk-ead``. A training run logs all
three, so one run id ties a PD version to its LGD and EAD versions; new versions get the
alias ``challenger``; ``champion`` moves only through ``promote`` (the gate, or a forced
promotion whose reason is recorded as tags). MLflow 3 aliases, not stages.

``load_champions`` is what the service calls at start-up: it resolves ``@champion``,
downloads the three bundles once into a local cache keyed by version, and returns a
``ChampionSet`` that scores numpy rows without touching MLflow again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from creditdesk.settings import get_settings
from models.bundle import ChampionSet, PDScorer
from models.validation import GateResult, calibration_by_grade, promotion_gate

PD_NAME = "creditdesk-pd"
LGD_NAME = "creditdesk-lgd"
EAD_NAME = "creditdesk-ead"
MODEL_NAMES = (PD_NAME, LGD_NAME, EAD_NAME)
CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "creditdesk"
HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
REPORT_ARTIFACT = "validation_report/report.html"
HOLDOUT_TARGET = "__target__"
REQUIRED_PACKAGES = ("lightgbm", "numpy", "pandas", "scikit-learn", "scipy", "pyarrow")
"""What the pyfuncs import when loaded (``models.bundle`` and its imports; pyarrow reads the
instruments file). optbinning and optuna are needed to *fit*, never to score."""

CODE_PACKAGES = ("models", "creditdesk")
"""Logged with every pyfunc (``code_paths``) so it loads where this repository is absent:
``models`` holds the scorers, ``creditdesk`` the error type they raise."""


def pip_requirements() -> list[str]:
    """Exact versions of this environment, so the artefact rebuilds the same scorer elsewhere."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in REQUIRED_PACKAGES]


def code_paths() -> list[str]:
    root = Path(__file__).resolve().parent.parent
    return [str(root / name) for name in CODE_PACKAGES]


def tracking_uri_or_default(tracking_uri: str | None = None) -> str:
    return tracking_uri or get_settings().tracking_uri


def client(tracking_uri: str | None = None) -> Any:
    from mlflow.tracking import MlflowClient

    uri = tracking_uri_or_default(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def use_tracking(tracking_uri: str | None = None) -> str:
    """Point the process's MLflow at ``tracking_uri`` (default: settings) and make sure the
    experiment exists with its artifacts under ``var/mlartifacts`` (not ./mlruns)."""
    import mlflow

    uri = tracking_uri_or_default(tracking_uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        if uri.startswith(("http://", "https://")):  # a tracking server keeps (or proxies) artefacts
            mlflow.create_experiment(EXPERIMENT)
        else:
            artifacts = get_settings().artifacts_dir.resolve()
            artifacts.mkdir(parents=True, exist_ok=True)
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return uri


def _string_example(frame: pd.DataFrame) -> pd.DataFrame:
    """MLflow schemas have no category type: categoricals travel as strings."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
    return out


def register_bundles(
    *,
    pd_dir: Path,
    lgd_dir: Path,
    ead_dir: Path,
    pd_example: pd.DataFrame,
    lgd_example: pd.DataFrame,
    version_tags: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Log the three pyfunc models in the active run, register them, alias them ``challenger``.

    Call inside ``mlflow.start_run()`` after ``use_tracking``. Returns version per name.
    """
    import mlflow
    from mlflow.models import infer_signature

    from models.pyfunc import EADPyfunc, LGDPyfunc, PDPyfunc

    pd_input = _string_example(pd_example)
    lgd_input = _string_example(lgd_example)
    pd_scorer = PDScorer.load(pd_dir)
    pd_out = pd_scorer.pd_from_matrix(pd_scorer.encoder.transform(pd_example))
    ead_input = pd.DataFrame({"grade": np.arange(1, 12, dtype=np.int64)})
    specs = [
        (PD_NAME, "pd_model", PDPyfunc(), pd_dir, pd_input, pd_out),
        (LGD_NAME, "lgd_model", LGDPyfunc(), lgd_dir, lgd_input, np.full(len(lgd_input), 0.5)),
        (EAD_NAME, "ead_model", EADPyfunc(), ead_dir, ead_input, np.full(11, 0.5)),
    ]
    versions: dict[str, int] = {}
    reg = client(mlflow.get_tracking_uri())
    for name, artifact_name, wrapper, bundle, example, example_out in specs:
        info = mlflow.pyfunc.log_model(
            name=artifact_name,
            python_model=wrapper,
            artifacts={"bundle": str(bundle)},
            signature=infer_signature(example, example_out),
            input_example=example.head(5),
            registered_model_name=name,
            pip_requirements=pip_requirements(),
            code_paths=code_paths(),
        )
        version = int(info.registered_model_version)
        for key, value in (version_tags or {}).items():
            reg.set_model_version_tag(name, str(version), key, str(value))
        reg.set_registered_model_alias(name, CHALLENGER, str(version))
        versions[name] = version
    return versions


def _version_by_alias(reg: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return reg.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _download(name: str, version: str, uri: str, cache_dir: Path) -> Path:
    """Download a model version's folder once; later calls reuse the cached copy."""
    import mlflow.artifacts

    target = cache_dir / name / str(version)
    done = target / ".complete"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    # Resolve the version's storage location with an explicit client rather than a models:/
    # URI, which MLflow resolves against the process-global registry URI.
    location = client(uri).get_model_version_download_uri(name, str(version))
    mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(target), tracking_uri=uri)
    done.touch()
    return target


def load_version_set(
    versions: Mapping[str, str | int], tracking_uri: str | None = None, cache_dir: Path | None = None
) -> ChampionSet:
    uri = tracking_uri_or_default(tracking_uri)
    cache = cache_dir or get_settings().var_dir / "model_cache"
    dirs = {name: _download(name, str(versions[name]), uri, cache) for name in MODEL_NAMES}
    return ChampionSet.from_dirs(
        dirs[PD_NAME],
        dirs[LGD_NAME],
        dirs[EAD_NAME],
        versions={
            "pd": str(versions[PD_NAME]),
            "lgd": str(versions[LGD_NAME]),
            "ead": str(versions[EAD_NAME]),
        },
    )


def load_champions(
    tracking_uri: str | None = None, alias: str = CHAMPION, cache_dir: Path | None = None
) -> ChampionSet:
    """The ``@champion`` PD, LGD and EAD as a numpy-only ``ChampionSet``.

    Raises ``LookupError`` when a model has no such alias yet (nothing promoted).
    """
    reg = client(tracking_uri)
    versions: dict[str, str] = {}
    for name in MODEL_NAMES:
        mv = _version_by_alias(reg, name, alias)
        if mv is None:
            raise LookupError(f"no {name}@{alias} in the registry: train and promote first")
        versions[name] = str(mv.version)
    champions = load_version_set(versions, tracking_uri, cache_dir)
    champions.versions["catalogue"] = str(champions.catalogue_version)
    return champions


def _holdout(run_id: str, uri: str) -> pd.DataFrame:
    import mlflow.artifacts

    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=HOLDOUT_ARTIFACT, tracking_uri=uri
    )
    return pd.read_parquet(path)


def _siblings(reg: Any, run_id: str) -> dict[str, str]:
    """The LGD and EAD versions logged by the same training run as a PD version."""
    out: dict[str, str] = {}
    for name in (LGD_NAME, EAD_NAME):
        found = reg.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        if not found:
            raise InputError(f"run {run_id} registered no {name} version", field="version")
        out[name] = str(max(int(v.version) for v in found))
    return out


def _candidate_version(reg: Any, version: int | None) -> Any:
    """The PD version to promote (default ``@challenger``); it must carry a validation report."""
    if version is None:
        mv = _version_by_alias(reg, PD_NAME, CHALLENGER)
        if mv is None:
            raise InputError(f"no {PD_NAME}@{CHALLENGER}: train a model first", field="version")
    else:
        from mlflow.exceptions import MlflowException

        try:
            mv = reg.get_model_version(PD_NAME, str(version))
        except MlflowException:
            raise InputError(f"{PD_NAME} has no version {version}", field="version") from None
    folder = REPORT_ARTIFACT.split("/")[0]
    if not any(a.path == REPORT_ARTIFACT for a in reg.list_artifacts(mv.run_id, folder)):
        raise InputError(
            f"{PD_NAME} version {mv.version} has no validation report ({REPORT_ARTIFACT} in its run): "
            "retrain it; promotion needs one",
            field="version",
        )
    return mv


def promote(
    *,
    version: int | None = None,
    force: bool = False,
    reason: str | None = None,
    tracking_uri: str | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Move ``champion`` to a PD version (default: ``@challenger``) and its LGD/EAD siblings.

    The gate scores the candidate and the current champion on the candidate's own
    hold-out (stored with its training run), so both are judged on the same rows. With
    ``force`` the gate still runs and is recorded, the alias moves anyway, and ``reason``
    is stored as a tag on every promoted version.
    """
    if force and not (reason and reason.strip()):
        raise InputError("--force needs --reason saying why the gate is overridden", field="reason")
    uri = tracking_uri_or_default(tracking_uri)
    reg = client(uri)
    mv = _candidate_version(reg, version)
    candidate = {PD_NAME: str(mv.version), **_siblings(reg, mv.run_id)}
    holdout = _holdout(mv.run_id, uri)
    y = holdout[HOLDOUT_TARGET].to_numpy(dtype=np.float64)
    X = holdout.drop(columns=[HOLDOUT_TARGET])

    from models.metrics import auc

    cand_set = load_version_set(candidate, uri, cache_dir)
    cand_matrix = cand_set.pd.encoder.transform(X)
    # Discrimination is the model's own ranking (the best estimate): PD + MoC is flat where
    # add-ons fall from grade to grade, and its ties moved the demo's AUC by 0.03. The
    # calibration test is on the PD with its MoC, as the decisions use it.
    cand_rank = cand_set.pd.model_pd(cand_matrix)
    cand_pd = cand_set.pd.pd_from_matrix(cand_matrix)
    champ = _version_by_alias(reg, PD_NAME, CHAMPION)
    champion_auc = None
    if champ is not None and str(champ.version) != candidate[PD_NAME]:
        champ_set = load_version_set(
            {PD_NAME: str(champ.version), **_siblings(reg, champ.run_id)}, uri, cache_dir
        )
        try:
            champ_matrix = champ_set.pd.encoder.transform(X)
        except InputError as exc:
            raise InputError(
                f"the champion cannot score the challenger's hold-out ({exc}); promote with --force --reason",
                field="version",
            ) from None
        champion_auc = auc(y, champ_set.pd.model_pd(champ_matrix))
    by_grade = calibration_by_grade(y, cand_pd)
    monotone_ok = str(mv.tags.get("monotonicity_ok", "false")).lower() == "true"
    gate: GateResult = promotion_gate(
        challenger_auc=auc(y, cand_rank),
        champion_auc=champion_auc,
        jeffreys_pass_share=float(by_grade["jeffreys_pass"].mean()),
        monotonicity_ok=monotone_ok,
    )
    promoted = gate.passed or force
    if promoted:
        gate_json = json.dumps({"passed": gate.passed, "reasons": gate.reasons, **gate.checks}, default=str)
        for name, ver in candidate.items():
            reg.set_registered_model_alias(name, CHAMPION, ver)
            reg.set_model_version_tag(name, ver, "promotion_gate", gate_json[:5000])
            if force and not gate.passed:
                reg.set_model_version_tag(name, ver, "promotion_forced", "true")
                reg.set_model_version_tag(name, ver, "promotion_reason", str(reason))
    return {
        "promoted": promoted,
        "forced": bool(force and not gate.passed),
        "gate_passed": gate.passed,
        "gate_reasons": gate.reasons,
        "checks": gate.checks,
        "versions": candidate,
        "previous_champion": None if champ is None else str(champ.version),
    }
