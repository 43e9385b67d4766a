"""The reject-inference study: every method against the through-the-door truth.

``creditdesk reject-inference`` runs it: the same out-of-time split as ``train`` (older
vintages train, the latest validate), each method fitted on the training applicants with
the outcomes of the approved ones only, each scored on every test applicant (the declined
included, whose outcomes the generated population knows) and on the approved among them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from creditdesk.errors import InputError
from pipelines.training import TrainingData, _check_classes, check_reject_inference, split_indices


def with_legacy_decisions(data: TrainingData, approval_rate: float | None, seed: int = 0) -> TrainingData:
    """Give ``data`` the legacy policy's decisions when it has none and a rate is asked for."""
    from models.reject_inference import legacy_decisions

    if approval_rate is None:
        return data
    if data.decision is not None:
        raise InputError(
            "the data already has a decision column 'approved': drop --legacy-approval-rate",
            field="legacy_approval_rate",
        )
    frame = data.monitored if data.monitored is not None else data.X
    data.decision = legacy_decisions(frame, approval_rate, seed=seed)
    data.decision_source = f"legacy policy at approval rate {approval_rate}"
    return data


def study(data: TrainingData, *, reject_factor: float = 1.0, seed: int = 42) -> dict[str, Any]:
    """Every method's AUC and calibration on all test applicants and on the approved ones."""
    from models.reject_inference import compare_methods

    started = time.perf_counter()
    data.reject_inference = "approved_only"  # only to reuse the decision column's checks
    check_reject_inference(data)
    assert data.decision is not None
    tr, te = split_indices(data)
    approved = np.asarray(data.decision, dtype=bool)
    _check_classes(data.y[tr][approved[tr]], "the approved applicants of the training split")
    _check_classes(data.y[te][approved[te]], "the approved applicants of the test split")
    rows = compare_methods(
        data.X, data.y, approved, tr, te, monotone=data.monotone, reject_factor=reject_factor, seed=seed
    )
    from pipelines.training import split_name

    return {
        "dataset": data.name,
        "split": split_name(data, te),
        "n_train": int(tr.size),
        "n_test": int(te.size),
        "decision_source": data.decision_source,
        "approval_rate_train": float(approved[tr].mean()),
        "approval_rate_test": float(approved[te].mean()),
        "bad_rate_train_approved": float(data.y[tr][approved[tr]].mean()),
        "bad_rate_train_declined": float(data.y[tr][~approved[tr]].mean()) if (~approved[tr]).any() else None,
        "reject_factor": reject_factor,
        "methods": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
