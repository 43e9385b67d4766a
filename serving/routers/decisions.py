"""Decisions: decide one application, a batch, or read a stored decision back."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from serving.deps import require, services
from serving.errors import ApiError, responses
from serving.keys import Principal, Role
from serving.runtime import NotReady
from serving.schemas import DecisionRequest
from serving.services import Services

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


def _not_ready(exc: NotReady) -> ApiError:
    return ApiError(
        503,
        "service not ready",
        field="models",
        rule="not_loaded",
        message=f"champion models or policy not loaded: {exc}",
        headers={"Retry-After": "5"},
    )


@router.post("", status_code=201, responses=responses(401, 403, 413, 422, 429, 503))
def decide(
    body: DecisionRequest,
    response: Response,
    _who: Principal = Depends(require(Role.onboarding)),
    svc: Services = Depends(services),
) -> None:
    """Decide one application (idempotent on ``application_id``)."""
    try:
        svc.runtime.require()
    except NotReady as exc:
        raise _not_ready(exc) from None
    raise ApiError(
        503,
        "service not ready",
        field="models",
        rule="not_integrated",
        message="the decision engine is not wired in yet",
    )
