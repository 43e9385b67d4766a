"""One error shape for every 4xx/5xx: status, title, and a list naming each field and rule.

FastAPI's default 422 body echoes the offending input, which for this API can be a
national id or a phone number; ours names the field, the rule and the constraint, never
the value. Bad input never becomes a 500: validation, ``InputError`` and HTTP errors all
map to 4xx here, and only a genuine bug reaches the catch-all (logged, with request id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditdesk.errors import InputError
from ledger.journal import QueueFull
from serving.logs import request_id_var

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="dotted path of the offending field ('body' for the whole body)")
    rule: str = Field(description="machine-readable rule that was broken, e.g. 'greater_than_equal'")
    message: str = Field(description="the rule in plain words")


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "status": 422,
                    "title": "request validation failed",
                    "errors": [
                        {
                            "field": "kyc.age",
                            "rule": "greater_than_equal",
                            "message": "Input should be greater than or equal to 18",
                        }
                    ],
                    "request_id": "3f2a9c1e5b7d4e60",
                }
            ]
        },
    )

    status: int
    title: str
    errors: list[FieldError]
    request_id: str


class ApiError(Exception):
    """Raise from routes and dependencies to answer with the standard error body."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        field: str,
        rule: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.errors = [FieldError(field=field, rule=rule, message=message)]
        self.headers = dict(headers or {})


def error_response(
    status: int, title: str, errors: Iterable[FieldError], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(status=status, title=title, errors=list(errors), request_id=request_id_var.get())
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(raw: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's errors without the echoed input; the constraint goes into the message."""
    out: list[FieldError] = []
    for err in raw[:50]:  # bounded: a 1,000-item batch must not yield a megabyte of errors
        message = str(err.get("msg", "invalid value"))
        rule = str(err.get("type", "invalid"))
        if rule == "extra_forbidden":
            message = "unknown field (this API accepts only the documented fields)"
        elif rule == "json_invalid":
            message = "body is not valid JSON"
        out.append(FieldError(field=_field_path(err.get("loc", ())), rule=rule, message=message))
    if len(raw) > 50:
        out.append(FieldError(field="body", rule="too_many_errors", message=f"{len(raw) - 50} more errors"))
    return out


_TITLES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    410: "gone",
    413: "request body too large",
    415: "unsupported media type",
    422: "request validation failed",
    429: "too many requests",
    500: "internal error",
    503: "service unavailable",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _TITLES[422], validation_errors(exc.errors()))

    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.title, exc.errors, exc.headers)

    @app.exception_handler(InputError)
    async def _input(_request: Request, exc: InputError) -> JSONResponse:
        field = exc.field or "body"
        return error_response(
            422, _TITLES[422], [FieldError(field=field, rule="input_rule", message=exc.one_line())]
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 404:
            field, rule, message = "path", "not_found", f"no resource at {request.url.path}"
        elif status == 405:
            field, rule, message = "method", "method_not_allowed", f"{request.method} is not allowed here"
        else:
            field, rule, message = "request", "http_error", str(exc.detail)
        return error_response(
            status,
            _TITLES.get(status, "error"),
            [FieldError(field=field, rule=rule, message=message)],
            exc.headers,
        )

    @app.exception_handler(OperationalError)
    async def _database(_request: Request, exc: OperationalError) -> JSONResponse:
        return database_unavailable(exc)

    @app.exception_handler(QueueFull)
    async def _busy(_request: Request, exc: QueueFull) -> JSONResponse:
        return database_unavailable(exc)


def database_unavailable(exc: Exception) -> JSONResponse:
    """503 + Retry-After: the database refused a read or write (disk full, I/O error, locked).

    Transient by nature and nothing was half-written (every write is one transaction), so
    the client should retry the same request later; the idempotency key makes that safe.
    """
    log.error("database unavailable", extra={"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return error_response(
        503,
        "service unavailable",
        [
            FieldError(
                field="database", rule="database_unavailable", message="storage unavailable; retry later"
            )
        ],
        headers={"Retry-After": "2"},
    )


def internal_error() -> JSONResponse:
    """The 500 body; built inside the edge middleware so it carries the real request id."""
    return error_response(
        500,
        "internal error",
        [FieldError(field="request", rule="internal_error", message="the service failed; quote request_id")],
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can return.

    413 (body limit, from the edge middleware), 500 (a bug) and 503 (models not loaded,
    database unavailable) can come from any route, so they are always documented.
    """
    every = sorted({*statuses, 413, 500, 503})
    return {s: {"model": ErrorBody, "description": _TITLES.get(s, "error")} for s in every}
