"""Decisions: decide one application, a batch, or read a stored decision back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from creditdesk.errors import InputError
from serving.decide import Conflict, DecisionService, Outcome
from serving.deps import require, services
from serving.errors import ApiError, responses
from serving.keys import Principal, Role
from serving.replay import ReplayUnavailable
from serving.runtime import NotReady
from serving.schemas import BatchRequest, Decision, DecisionRequest
from serving.services import Services
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], route_class=StrictJsonRoute)


def _not_ready(exc: NotReady) -> ApiError:
    return ApiError(
        503,
        "service not ready",
        field="models",
        rule="not_loaded",
        message=f"champion models or policy not loaded: {exc}",
        headers={"Retry-After": "5"},
    )


def _engine(request: Request, svc: Services = Depends(services)) -> DecisionService:
    engine: DecisionService | None = getattr(request.app.state, "decision_service", None)
    if engine is None:
        engine = DecisionService(svc)
        request.app.state.decision_service = engine
    return engine


def _decide_one(engine: DecisionService, body: DecisionRequest) -> Outcome:
    try:
        return engine.decide(body)
    except NotReady as exc:
        raise _not_ready(exc) from None
    except Conflict as exc:
        raise ApiError(
            409, "conflict", field="application_id", rule="idempotency_conflict", message=str(exc)
        ) from None


@router.post(
    "",
    status_code=201,
    response_model=Decision,
    responses={
        200: {"model": Decision, "description": "stored decision (resend)"},
        **responses(401, 403, 409, 413, 422, 429, 503),
    },
)
def decide(
    body: DecisionRequest,
    request: Request,
    response: Response,
    _who: Principal = Depends(require(Role.onboarding)),
    engine: DecisionService = Depends(_engine),
) -> Decision:
    """Decide one application. Idempotent on ``application_id``: the same body again returns
    the stored decision (200); a different body under the same id is refused (409)."""
    outcome = _decide_one(engine, body)
    if outcome.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["X-Decision-Id"] = outcome.decision.decision_id
    request.scope.setdefault("creditdesk", {})["decision_id"] = outcome.decision.decision_id
    return outcome.decision


@router.post("/batch", responses=responses(401, 403, 413, 422, 429, 503))
def decide_batch(
    body: BatchRequest,
    _who: Principal = Depends(require(Role.onboarding)),
    engine: DecisionService = Depends(_engine),
) -> dict[str, Any]:
    """Decide up to 1,000 applications, validate-all-then-write.

    The body is validated as a whole first (a malformed item: 422 for the batch, nothing
    written). Then every item is checked and computed without writing; an item that fails
    (e.g. an unknown ticker: 422, a different body under a used id: 409) is reported in its
    own result. Finally all items that passed are written in ONE transaction: either every
    one of them is journalled or, on a storage error, none is (503, safe to resend whole).
    Each result has ``status`` 201 (new), 200 (stored decision, a resend), 409 or 422.
    """
    try:
        outcomes = engine.decide_batch(list(body.applications))
    except NotReady as exc:
        raise _not_ready(exc) from None
    results: list[dict[str, Any]] = []
    for application, outcome in zip(body.applications, outcomes, strict=True):
        item: dict[str, Any] = {"application_id": application.application_id}
        if isinstance(outcome, Outcome):
            item["status"] = 200 if outcome.replayed else 201
            item["decision"] = outcome.decision.model_dump(mode="json")
        else:
            error = _item_error(outcome)
            item["status"] = error.status
            item["errors"] = [e.model_dump() for e in error.errors]
        results.append(item)
    return {"results": results}


def _item_error(exc: Exception) -> ApiError:
    if isinstance(exc, Conflict):
        return ApiError(
            409, "conflict", field="application_id", rule="idempotency_conflict", message=str(exc)
        )
    assert isinstance(exc, InputError), exc
    return ApiError(
        422, "request validation failed", field=exc.field or "body", rule="input_rule", message=exc.one_line()
    )


@router.get("/{decision_id}", responses=responses(401, 403, 404, 410, 422, 429, 503))
async def get_decision(
    decision_id: str = Path(pattern=r"^[0-9a-f]{32}$"),
    replay: bool = Query(
        default=False,
        description="recompute from the stored inputs with the recorded model and policy versions "
        "(loaded from the registry when they are not the current ones); 410 when they were deleted",
    ),
    _who: Principal = Depends(require(Role.analyst)),
    engine: DecisionService = Depends(_engine),
) -> dict[str, Any]:
    """The stored decision: inputs (PII excluded), features, outputs, model and policy versions."""
    try:
        stored, replayed = await run_in_threadpool(engine.get, decision_id, replay)
    except KeyError:
        raise ApiError(
            404, "not found", field="decision_id", rule="not_found", message="no such decision"
        ) from None
    except NotReady as exc:
        raise _not_ready(exc) from None
    except ReplayUnavailable as exc:
        raise ApiError(410, "gone", field="replay", rule=exc.rule, message=str(exc)) from None
    result: dict[str, Any] = {"stored": stored}
    if replayed is not None:
        result["replay"] = replayed
        result["same_numbers"] = all(f["equal"] for f in replayed["fields"].values())
    return result
