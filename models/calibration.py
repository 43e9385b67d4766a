"""PD calibration as plain numbers, so the online path applies it with numpy alone.

A booster's raw margin ranks applicants; calibration maps it to a PD that matches observed
default rates. Two candidates: Platt (a sigmoid a·margin + b, two numbers, smooth, strictly
monotone so it keeps the ranking exactly) and isotonic (a monotone step curve stored as
threshold arrays, applied with ``np.interp``; flexible but it ties scores within a step and
overfits small samples). Which one is chosen on held-out data by cross-fitted log loss, so
isotonic must earn its flexibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

Method = Literal["platt", "isotonic", "identity"]
PD_MIN = 1e-4
"""Isotonic may fit a 0% step on a clean segment; a PD of exactly zero reads as "riskless"
and breaks log loss, so calibrated PDs are kept in [1e-4, 1 − 1e-4]."""


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Calibration:
    method: Method
    platt_a: float = 1.0
    platt_b: float = 0.0
    iso_x: tuple[float, ...] = field(default_factory=tuple)
    iso_y: tuple[float, ...] = field(default_factory=tuple)

    def apply(self, raw_margin: ArrayLike) -> NDArray[np.float64]:
        """Raw LightGBM margin (log-odds) → calibrated PD. Pure numpy."""
        raw = np.asarray(raw_margin, dtype=np.float64)
        if self.method == "platt":
            out = _sigmoid(self.platt_a * raw + self.platt_b)
        elif self.method == "isotonic":
            out = np.interp(raw, np.asarray(self.iso_x), np.asarray(self.iso_y))
        else:
            out = _sigmoid(raw)
        return np.clip(out, PD_MIN, 1.0 - PD_MIN)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
            "iso_x": list(self.iso_x),
            "iso_y": list(self.iso_y),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            method=data["method"],
            platt_a=float(data.get("platt_a", 1.0)),
            platt_b=float(data.get("platt_b", 0.0)),
            iso_x=tuple(float(v) for v in data.get("iso_x", [])),
            iso_y=tuple(float(v) for v in data.get("iso_y", [])),
        )


def fit_platt(raw: NDArray[np.float64], y: NDArray[np.float64]) -> Calibration:
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(raw.reshape(-1, 1), y)
    return Calibration("platt", platt_a=float(model.coef_[0, 0]), platt_b=float(model.intercept_[0]))


def fit_isotonic(raw: NDArray[np.float64], y: NDArray[np.float64]) -> Calibration:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=PD_MIN, y_max=1.0 - PD_MIN, increasing=True)
    iso.fit(raw, y)
    return Calibration(
        "isotonic",
        iso_x=tuple(float(v) for v in iso.X_thresholds_),
        iso_y=tuple(float(v) for v in iso.y_thresholds_),
    )


def log_loss(y: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    p = np.clip(p, PD_MIN, 1 - PD_MIN)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def choose_calibration(
    raw: ArrayLike, y: ArrayLike, method: Literal["auto", "platt", "isotonic"] = "auto", seed: int = 0
) -> tuple[Calibration, dict[str, float]]:
    """Fit the calibration on held-out margins; with ``auto`` pick by 2-fold cross-fitted log loss.

    Returns the calibration refitted on all held-out rows and the cross-fitted log loss of
    each candidate (empty when a method was forced), for the validation pack.
    """
    raw_arr = np.asarray(raw, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    if method == "platt":
        return fit_platt(raw_arr, y_arr), {}
    if method == "isotonic":
        return fit_isotonic(raw_arr, y_arr), {}
    losses = {"platt": 0.0, "isotonic": 0.0}
    n_bad = int(y_arr.sum())
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    if min(n_bad, y_arr.size - n_bad) < 2:
        return fit_platt(raw_arr, y_arr), {}
    for fit_idx, eval_idx in folds.split(raw_arr, y_arr):
        for name, fitter in (("platt", fit_platt), ("isotonic", fit_isotonic)):
            cal = fitter(raw_arr[fit_idx], y_arr[fit_idx])
            losses[name] += (
                log_loss(y_arr[eval_idx], cal.apply(raw_arr[eval_idx])) * eval_idx.size / y_arr.size
            )
    best = "isotonic" if losses["isotonic"] < losses["platt"] else "platt"
    chosen = fit_isotonic(raw_arr, y_arr) if best == "isotonic" else fit_platt(raw_arr, y_arr)
    return chosen, losses
