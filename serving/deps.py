"""FastAPI dependencies: the services of this app, and role-checked authentication.

``require(Role.x, ...)`` authenticates the bearer key (401 when missing or unknown),
checks the role (403), then takes a token from the key's rate-limit bucket (429 with
Retry-After) — in that order, so an anonymous flood cannot drain a real key's bucket.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.errors import ApiError
from serving.keys import Principal, Role
from serving.services import Services

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cdk_<id>_<secret>`")


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def require(*roles: Role) -> Callable[..., Principal]:
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        svc: Services = Depends(services),
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                field="Authorization",
                rule="bearer_key_required",
                message="send 'Authorization: Bearer <API key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = svc.keys.authenticate(credentials.credentials)
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                field="Authorization",
                rule="unknown_or_revoked_key",
                message="the API key is not valid (unknown, malformed or revoked)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.scope.setdefault("creditdesk", {})["key_id"] = principal.key_id
        if principal.role not in allowed:
            raise ApiError(
                403,
                "forbidden",
                field="Authorization",
                rule="role_not_allowed",
                message=f"role {principal.role.value!r} may not do this; allowed: {names}",
            )
        wait_s = svc.limiter.check(principal.key_id)
        if wait_s > 0:
            svc.metrics.rate_limited.labels(principal.role.value).inc()
            raise ApiError(
                429,
                "too many requests",
                field="Authorization",
                rule="rate_limit",
                message=(
                    f"this key may send {svc.settings.rate_limit_per_minute:g} requests per minute "
                    f"(burst {svc.settings.rate_limit_burst}); retry later"
                ),
                headers={"Retry-After": svc.limiter.retry_after_header(wait_s)},
            )
        return principal

    return dependency
