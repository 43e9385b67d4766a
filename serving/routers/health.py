"""Liveness, readiness and Prometheus metrics: unauthenticated, no PII, cheap.

Live means the process answers; ready means it can decide (champion models and the policy
are loaded). Orchestrators route traffic on ready and restart on live, so a failed model
load keeps a replica out of rotation without killing it in a loop.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from serving.deps import services
from serving.schemas import HealthLive, HealthReady
from serving.services import Services

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=HealthLive)
def live() -> HealthLive:
    return HealthLive(status="live", pid=os.getpid())


@router.get(
    "/health/ready",
    response_model=HealthReady,
    responses={503: {"model": HealthReady, "description": "models or policy not loaded"}},
)
def ready(svc: Services = Depends(services)) -> JSONResponse:
    loaded = svc.runtime.current
    if loaded is None:
        body = HealthReady(
            status="not_ready",
            versions={},
            loaded_at=None,
            reasons=[svc.runtime.last_error or "models not loaded"],
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503, headers={"Retry-After": "5"})
    body = HealthReady(
        status="ready",
        versions=loaded.versions,
        loaded_at=loaded.loaded_at,
        reasons=[],
        fast_reasons=loaded.reasons.get("method") == "treeshap_table",
        reasons_parity=str(loaded.reasons.get("detail", "")),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(svc: Services = Depends(services)) -> Response:
    payload, content_type = svc.metrics.render()
    return Response(payload, media_type=content_type)
