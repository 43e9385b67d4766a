"""Admin: reload the champion models without a restart, and manage API keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from serving.deps import require, services
from serving.errors import ApiError, responses
from serving.keys import Principal, Role, create_key, revoke_key
from serving.schemas import KeyCreate, KeyCreated, ReloadResult
from serving.services import Services
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=StrictJsonRoute)


@router.post("/reload", response_model=ReloadResult, responses=responses(401, 403, 429, 503))
async def reload(
    _who: Principal = Depends(require(Role.admin)), svc: Services = Depends(services)
) -> ReloadResult:
    """Load the current ``champion`` aliases; requests in flight finish on the old models."""
    try:
        loaded = await run_in_threadpool(svc.runtime.load)
    except Exception as exc:
        raise ApiError(
            503,
            "service not ready",
            field="models",
            rule="load_failed",
            message=f"reload failed, still serving the previous models: {type(exc).__name__}: {exc}",
        ) from None
    return ReloadResult(versions=loaded.versions, loaded_at=loaded.loaded_at)


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=responses(401, 403, 422, 429))
def new_key(
    body: KeyCreate, _who: Principal = Depends(require(Role.admin)), svc: Services = Depends(services)
) -> KeyCreated:
    created = create_key(svc.engine, Role(body.role), body.label)
    return KeyCreated(key_id=created.key_id, role=created.role.value, label=body.label, token=created.token)


@router.delete("/keys/{key_id}", status_code=204, responses=responses(401, 403, 404, 429))
def delete_key(
    key_id: str = Path(pattern=r"^[0-9a-f]{12}$"),
    _who: Principal = Depends(require(Role.admin)),
    svc: Services = Depends(services),
) -> None:
    if not revoke_key(svc.engine, key_id):
        raise ApiError(404, "not found", field="key_id", rule="not_found", message="no live key with this id")
    svc.keys.forget(key_id)
