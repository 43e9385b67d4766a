"""The HTTP edge as one pure ASGI middleware: request id, body limit, access log, latency.

Pure ASGI rather than ``BaseHTTPMiddleware`` because it costs microseconds, not a task
hop, on a path that must answer in milliseconds. The body limit is enforced while the
body is read: Content-Length may only make us refuse earlier, never accept more, and a
chunked upload is cut off the moment it passes the limit.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import FieldError, error_response, internal_error
from serving.logs import request_id_var
from serving.metrics import Metrics

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)
        scope.setdefault("creditdesk", {})["request_id"] = request_id
        status = 500
        status_sent = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                MutableHeaders(scope=message).append("x-request-id", request_id)
            await send(message)

        try:
            body = await self._read_body(scope, receive)
        except _TooLarge:
            response = error_response(
                413,
                "request body too large",
                [
                    FieldError(
                        field="body",
                        rule="max_body_bytes",
                        message=f"request body must be at most {self.max_body_bytes} bytes",
                    )
                ],
                headers={"connection": "close"},
            )
            await response(scope, receive, send_with_id)
        else:
            try:
                await self.app(scope, _replay(body, receive), send_with_id)
            except Exception as exc:  # a bug: answer here, while the request id is still set
                log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
                if status_sent:
                    raise  # the response has started: the server can only close the connection
                await internal_error()(scope, receive, send_with_id)
        finally:
            elapsed_s = time.perf_counter() - start
            route = _route_template(scope)
            self.metrics.request_latency.labels(scope["method"], route, str(status)).observe(elapsed_s)
            extra: dict[str, Any] = {
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": round(elapsed_s * 1000, 3),
            }
            state = scope.get("creditdesk", {})
            for key in ("key_id", "decision_id"):
                if key in state:
                    extra[key] = state[key]
            log.info("request", extra=extra)
            request_id_var.reset(token)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's template (bounded label set), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return scope.get("root_path", "") + path if scope.get("root_path") else path
    return "unmatched"
