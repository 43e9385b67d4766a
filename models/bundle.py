"""Model bundles on disk and the numpy-only scorer built from them (``ChampionSet``).

A bundle is a folder of plain files: LightGBM boosters as text and the rest as JSON
(feature order, categorical levels, calibration numbers, LGD constants, CCF by grade,
feature descriptions). MLflow stores these folders as the artifacts of the registered
pyfunc models; the online path reads them once and then needs numpy and
``lightgbm.Booster`` only, no pandas, no MLflow (``Booster.predict`` on a numpy row
takes tens of microseconds; a pyfunc call takes milliseconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from creditdesk.errors import InputError
from models.calibration import PD_MIN, Calibration
from models.conservatism import apply_moc
from models.ead import CCFByGrade
from models.encoding import FrameEncoder
from models.lgd import TwoStageLGD, two_stage_predict
from models.master_scale import DEFAULT_GRADE, grade_of
from models.reasons import MAX_REASONS, Reason, reasons_for_rows
from models.scorecard import LinearWoE
from models.selection import Stack
from models.threads import threads_for

PD_META = "pd_meta.json"
PD_BOOSTER = "pd_booster.txt"
LGD_META = "lgd_meta.json"
LGD_LOSS_BOOSTER = "lgd_loss_booster.txt"
LGD_SEVERITY_BOOSTER = "lgd_severity_booster.txt"
EAD_META = "ead_meta.json"
INSTRUMENTS_FILE = "instruments.parquet"
"""The traded universe of the training population, shipped with the PD model because the
trading features (share of volatile / illiquid names) are computed against it."""


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(dict(data), indent=2, sort_keys=True))


def save_pd_bundle(
    model: Any,
    out_dir: Path,
    *,
    descriptions: Mapping[str, str] | None = None,
    catalogue_version: str | None = None,
    moc: Mapping[str, Any] | None = None,
) -> Path:
    """Write a PD bundle from a ``LightGBMPD`` or a fitted ``SelectedPD`` (its chosen kind).

    ``moc`` is the margin of conservatism (``models.conservatism``) applied on top of the
    model's PD when scoring; recorded in the bundle so every consumer applies the same one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lgbm = getattr(model, "lightgbm_", model)
    lgbm.booster_.save_model(str(out_dir / PD_BOOSTER))
    names = lgbm.encoder_.feature_names
    woe = getattr(model, "woe_", None)
    stack = getattr(model, "stack_", None)
    _write_json(
        out_dir / PD_META,
        {
            "kind": "pd",
            "model": getattr(model, "choice_", "lightgbm"),
            "encoder": lgbm.encoder_.to_dict(),
            "calibration": lgbm.calibration_.to_dict(),
            "woe": None if woe is None else woe.to_dict(),
            "stack": None if stack is None else stack.to_dict(),
            "moc": None if moc is None else dict(moc),
            "monotone": {n: int(c) for n, c in zip(names, lgbm.monotone_constraints_, strict=True) if c},
            "descriptions": {n: (descriptions or {}).get(n, n) for n in names},
            "catalogue_version": catalogue_version,
            "best_iteration": lgbm.best_iteration_,
        },
    )
    return out_dir


def save_lgd_bundle(model: TwoStageLGD, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if model.loss_booster_ is not None:
        model.loss_booster_.save_model(str(out_dir / LGD_LOSS_BOOSTER))
    model.severity_booster_.save_model(str(out_dir / LGD_SEVERITY_BOOSTER))
    _write_json(
        out_dir / LGD_META,
        {"kind": "lgd", "encoder": model.encoder_.to_dict(), "p_loss_constant": model.p_loss_constant_},
    )
    return out_dir


def save_ead_bundle(model: CCFByGrade, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        out_dir / EAD_META,
        {
            "kind": "ead",
            "ccf_by_grade": [float(v) for v in model.ccf_by_grade_],
            "counts": [int(v) for v in model.counts_],
            "pooled_ccf": model.pooled_ccf_,
        },
    )
    return out_dir


def _threads(X: NDArray[np.float64]) -> dict[str, Any]:
    return threads_for(X.shape[0])


def _find(root: Path, name: str) -> Path:
    """Bundles may sit below an MLflow model folder (``artifacts/...``): search for the file."""
    direct = root / name
    if direct.is_file():
        return direct
    found = sorted(root.rglob(name))
    if not found:
        raise FileNotFoundError(f"{name} not found under {root}")
    return found[0]


@dataclass
class PDScorer:
    """The registered PD as numbers: ``model`` says which candidate the selection kept.

    ``lightgbm``: calibrated booster margin; ``scorecard``: the WoE table's log-odds;
    ``blend``: the stack over both. The booster is always present (it is the LightGBM
    candidate), so tools that read it keep working; ``moc`` adds the margin of conservatism.
    """

    booster: lgb.Booster
    encoder: FrameEncoder
    calibration: Calibration
    descriptions: dict[str, str]
    monotone: dict[str, int]
    catalogue_version: str | None
    instruments_path: Path | None = None
    model: str = "lightgbm"
    woe: LinearWoE | None = None
    stack: Stack | None = None
    moc: dict[str, Any] | None = None

    @classmethod
    def load(cls, root: Path) -> PDScorer:
        meta = json.loads(_find(root, PD_META).read_text())
        booster_path = _find(root, PD_BOOSTER)
        instruments = booster_path.parent / INSTRUMENTS_FILE
        return cls(
            booster=lgb.Booster(model_file=str(booster_path)),
            encoder=FrameEncoder.from_dict(meta["encoder"]),
            calibration=Calibration.from_dict(meta["calibration"]),
            descriptions=dict(meta.get("descriptions", {})),
            monotone={k: int(v) for k, v in meta.get("monotone", {}).items()},
            catalogue_version=meta.get("catalogue_version"),
            instruments_path=instruments if instruments.is_file() else None,
            model=str(meta.get("model", "lightgbm")),
            woe=LinearWoE.from_dict(meta["woe"]) if meta.get("woe") else None,
            stack=Stack.from_dict(meta["stack"]) if meta.get("stack") else None,
            moc=meta.get("moc"),
        )

    def model_pd(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The selected model's PD before the margin of conservatism."""
        if self.model == "lightgbm":
            return self.calibration.apply(self.booster.predict(X, raw_score=True, **_threads(X)))
        assert self.woe is not None, f"a {self.model} PD bundle carries a WoE table"
        logit = self.woe.logit(X)
        if self.model == "blend":
            assert self.stack is not None
            logit = self.stack.apply(
                np.asarray(self.booster.predict(X, raw_score=True, **_threads(X))), logit
            )
        return np.clip(1.0 / (1.0 + np.exp(-logit)), PD_MIN, 1.0 - PD_MIN)

    def pd_from_matrix(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        pd_ = self.model_pd(X)
        return pd_ if self.moc is None else apply_moc(pd_, self.moc)

    def contributions(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-feature log-odds contributions (n, p) of the selected model, for reason codes."""
        p = len(self.encoder.feature_names)
        if self.model == "scorecard":
            assert self.woe is not None
            return self.woe.contributions(X)
        shap = np.asarray(self.booster.predict(X, pred_contrib=True, **_threads(X)))[:, :p]
        if self.model == "blend":
            assert self.woe is not None and self.stack is not None
            return self.stack.a_lgb * shap + self.stack.a_woe * self.woe.contributions(X)
        return shap


@dataclass
class LGDScorer:
    encoder: FrameEncoder
    severity: lgb.Booster
    loss: lgb.Booster | None
    p_loss_constant: float | None

    @classmethod
    def load(cls, root: Path) -> LGDScorer:
        meta = json.loads(_find(root, LGD_META).read_text())
        try:
            loss: lgb.Booster | None = lgb.Booster(model_file=str(_find(root, LGD_LOSS_BOOSTER)))
        except FileNotFoundError:
            loss = None
        return cls(
            encoder=FrameEncoder.from_dict(meta["encoder"]),
            severity=lgb.Booster(model_file=str(_find(root, LGD_SEVERITY_BOOSTER))),
            loss=loss,
            p_loss_constant=meta.get("p_loss_constant"),
        )

    def lgd_from_matrix(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return two_stage_predict(X, self.severity, self.loss, self.p_loss_constant, **_threads(X))


@dataclass
class EADScorer:
    ccf_by_grade: NDArray[np.float64]

    @classmethod
    def load(cls, root: Path) -> EADScorer:
        meta = json.loads(_find(root, EAD_META).read_text())
        table = np.asarray(meta["ccf_by_grade"], dtype=np.float64)
        if table.shape != (DEFAULT_GRADE,):
            raise ValueError(f"ccf_by_grade must have {DEFAULT_GRADE} entries")
        return cls(ccf_by_grade=table)

    def ccf(self, grades: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.ccf_by_grade[np.asarray(grades, dtype=np.int64) - 1]


@dataclass
class Scored:
    """One array per output (length n) and, per row, up to four reasons."""

    pd_12m: NDArray[np.float64]
    grade: NDArray[np.int64]
    lgd: NDArray[np.float64]
    ccf: NDArray[np.float64]
    reasons: list[list[Reason]]


@dataclass
class ChampionSet:
    """The champion PD, LGD and EAD models, ready to score numpy rows.

    ``score(X)`` takes a float64 matrix whose columns are ``feature_names`` (the PD
    model's order, i.e. the catalogue order it was trained with) and returns ``Scored``;
    one applicant is a one-row matrix (what serving passes). LGD reads its own columns out
    of the same row, so both models may use different subsets.
    """

    pd: PDScorer
    lgd: LGDScorer
    ead: EADScorer
    versions: dict[str, str] = field(default_factory=dict)
    instruments: Any = None
    _lgd_columns: NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = self.pd.encoder.feature_names
        missing = [n for n in self.lgd.encoder.feature_names if n not in names]
        if missing:
            raise ValueError(f"LGD model uses features the PD model does not: {missing[:5]}")
        self._lgd_columns = np.array([names.index(n) for n in self.lgd.encoder.feature_names], dtype=np.int64)

    @property
    def feature_names(self) -> list[str]:
        return list(self.pd.encoder.feature_names)

    @property
    def catalogue_version(self) -> str | None:
        return self.pd.catalogue_version

    @property
    def instruments_path(self) -> Path | None:
        """instruments.parquet of the training population, when the model was trained on one;
        build ``features.builders.InstrumentIndex`` from it (models may not import builders)."""
        return self.pd.instruments_path

    def score(
        self, X: NDArray[np.float64], *, with_reasons: bool = True, max_reasons: int = MAX_REASONS
    ) -> Scored:
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape[1] != len(self.pd.encoder.feature_names):
            raise InputError(
                f"expected {len(self.pd.encoder.feature_names)} features per row, got {matrix.shape[1]}",
                field="features",
            )
        pd_12m = self.pd.pd_from_matrix(matrix)
        grades = grade_of(pd_12m)
        lgd = self.lgd.lgd_from_matrix(matrix[:, self._lgd_columns])
        ccf = self.ead.ccf(grades)
        reasons: list[list[Reason]] = []
        if with_reasons:
            contrib = self.pd.contributions(matrix)
            reasons = reasons_for_rows(
                contrib, self.pd.encoder.feature_names, self.pd.descriptions, k=max_reasons
            )
        return Scored(pd_12m=pd_12m, grade=grades, lgd=lgd, ccf=ccf, reasons=reasons)

    @classmethod
    def from_dirs(
        cls, pd_dir: Path, lgd_dir: Path, ead_dir: Path, versions: Mapping[str, str] | None = None
    ) -> ChampionSet:
        return cls(
            pd=PDScorer.load(pd_dir),
            lgd=LGDScorer.load(lgd_dir),
            ead=EADScorer.load(ead_dir),
            versions=dict(versions or {}),
        )
