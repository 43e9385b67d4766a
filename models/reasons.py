"""Reason codes: the features that pushed an applicant's PD up, in plain language.

Contributions are LightGBM TreeSHAP values (``pred_contrib``) on the log-odds scale; a
positive value is adverse (it raises the PD above the portfolio's expected value). We
return at most four adverse reasons, the largest first, with the catalogue's text, which
is what adverse-action notices need. Features that lowered the PD are never "reasons".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

MAX_REASONS = 4


class Reason(TypedDict):
    code: str
    feature: str
    text: str
    contribution: float


def reason_code(feature: str) -> str:
    """Stable code derived from the feature name, e.g. ``bureau_score`` → ``RC_BUREAU_SCORE``."""
    return "RC_" + feature.upper()


def top_adverse(contributions: NDArray[np.float64], k: int = MAX_REASONS) -> NDArray[np.int64]:
    """Per row, the indices of up to ``k`` largest positive contributions, largest first.

    ``contributions`` is (n, p) without the bias column; entries are -1 where a row has
    fewer than ``k`` adverse features. Ties keep feature order (stable sort).
    """
    contrib = np.atleast_2d(np.asarray(contributions, dtype=np.float64))
    n, p = contrib.shape
    k_eff = min(k, p)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k_eff]
    picked = np.take_along_axis(contrib, order, axis=1)
    out = np.where(picked > 0, order, -1).astype(np.int64)
    if k_eff < k:
        out = np.hstack([out, np.full((n, k - k_eff), -1, dtype=np.int64)])
    return out


def reasons_for_rows(
    contributions: NDArray[np.float64],
    feature_names: Sequence[str],
    describe: Mapping[str, str] | Callable[[str], str],
    k: int = MAX_REASONS,
) -> list[list[Reason]]:
    """Reasons for each row of a (n, p) or (n, p + 1) contribution matrix (bias column dropped)."""
    contrib = np.atleast_2d(np.asarray(contributions, dtype=np.float64))
    p = len(feature_names)
    if contrib.shape[1] == p + 1:
        contrib = contrib[:, :p]
    if contrib.shape[1] != p:
        raise ValueError(f"contributions have {contrib.shape[1]} columns for {p} features")
    lookup = describe if callable(describe) else (lambda name: describe.get(name, name))
    idx = top_adverse(contrib, k)
    out: list[list[Reason]] = []
    for row, chosen in enumerate(idx):
        out.append(
            [
                Reason(
                    code=reason_code(feature_names[j]),
                    feature=feature_names[j],
                    text=lookup(feature_names[j]),
                    contribution=float(contrib[row, j]),
                )
                for j in chosen
                if j >= 0
            ]
        )
    return out
