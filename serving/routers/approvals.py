"""Maker-checker: request a critical operation, approve or refuse it with another key."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ConfigDict, Field

from serving.approvals import KINDS, Approval, Approvals, MakerCannotCheck, NotPending
from serving.deps import require, services
from serving.errors import ApiError, responses
from serving.keys import Principal, Role
from serving.schemas import _Closed
from serving.services import Services
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], route_class=StrictJsonRoute)
staff = require(Role.admin, Role.operations)
_TEXT = r"^[^\x00-\x1f\x7f]*$"


Kind = Literal[KINDS]  # type: ignore[valid-type]


class ApprovalCreate(_Closed):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "forced_promotion",
                    "subject": {"pd_version": 7},
                    "reason": "gate refused a data fix",
                }
            ]
        }
    )

    kind: Kind = Field(description="policy_change | forced_promotion | manual_liquidation | key_rotation")
    subject: dict[str, str | int | bool | None] = Field(
        default_factory=dict, max_length=20, description="what to do (e.g. model version, account id)"
    )
    reason: str = Field(min_length=1, max_length=500, pattern=_TEXT)


class ApprovalDecision(_Closed):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "checked the hold-out report"}]})

    note: str = Field(default="", max_length=500, pattern=_TEXT)


class ApprovalOut(_Closed):
    approval_id: str
    kind: str
    subject: dict[str, Any]
    reason: str
    maker: str = Field(description="API key id that requested it")
    state: Literal["pending", "approved", "refused", "executed"]
    checker: str | None
    note: str | None
    result: dict[str, Any] | None


def _out(a: Approval) -> ApprovalOut:
    return ApprovalOut.model_validate(a.__dict__, strict=False)


def approvals_of(request: Request, svc: Services = Depends(services)) -> Approvals:
    found: Approvals | None = getattr(request.app.state, "approvals", None)
    if found is None:
        from serving.routers.decisions import _engine

        writer = _engine(request, svc).writer  # one hash chain per process: the journal's writer

        def execute(approval: Approval) -> dict[str, Any]:
            return {"rotated": svc.pii.rotate(), "active_key_id": svc.keyring.active_key_id}

        found = Approvals(svc.engine, writer, execute)
        request.app.state.approvals = found
    return found


@router.post("", status_code=201, response_model=ApprovalOut, responses=responses(401, 403, 422, 429))
def create(
    body: ApprovalCreate, who: Principal = Depends(staff), book: Approvals = Depends(approvals_of)
) -> ApprovalOut:
    """Request a critical operation (the maker); another key must approve it."""
    return _out(book.request(body.kind, dict(body.subject), body.reason, who.key_id))


@router.get("/{approval_id}", response_model=ApprovalOut, responses=responses(401, 403, 404, 422, 429))
def read(
    approval_id: str = Path(pattern=r"^[0-9a-f]{32}$"),
    _who: Principal = Depends(staff),
    book: Approvals = Depends(approvals_of),
) -> ApprovalOut:
    found = book.get(approval_id)
    if found is None:
        raise ApiError(404, "not found", field="approval_id", rule="not_found", message="no such request")
    return _out(found)


def _decide(book: Approvals, approval_id: str, who: Principal, approve: bool, note: str) -> ApprovalOut:
    try:
        return _out(book.decide(approval_id, who.key_id, approve, note))
    except KeyError:
        raise ApiError(
            404, "not found", field="approval_id", rule="not_found", message="no such request"
        ) from None
    except MakerCannotCheck as exc:
        raise ApiError(
            403, "forbidden", field="Authorization", rule="maker_cannot_check", message=str(exc)
        ) from None
    except NotPending as exc:
        raise ApiError(409, "conflict", field="approval_id", rule="not_pending", message=str(exc)) from None


@router.post(
    "/{approval_id}/approve", response_model=ApprovalOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def approve(
    body: ApprovalDecision,
    approval_id: str = Path(pattern=r"^[0-9a-f]{32}$"),
    who: Principal = Depends(staff),
    book: Approvals = Depends(approvals_of),
) -> ApprovalOut:
    """Approve (the checker: any staff key but the maker's); a key rotation runs at once."""
    return _decide(book, approval_id, who, True, body.note)


@router.post(
    "/{approval_id}/refuse", response_model=ApprovalOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def refuse(
    body: ApprovalDecision,
    approval_id: str = Path(pattern=r"^[0-9a-f]{32}$"),
    who: Principal = Depends(staff),
    book: Approvals = Depends(approvals_of),
) -> ApprovalOut:
    return _decide(book, approval_id, who, False, body.note)
