"""JSON bodies parsed strictly: a key repeated within one object is refused (422).

Python's ``json`` keeps the last of two equal keys, so ``{"age": 41, "age": 17}`` was decided
on age 17 while a log or a proxy that keeps the first saw 41: two readers, two requests.
The body is parsed once here with a hook that sees every (key, value) pair of every object
and the result is left where FastAPI looks for it (``request._json``), so the route's own
validation does not parse it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return out


def loads_strict(body: bytes | str) -> Any:
    """``json.loads`` that raises ``DuplicateKey`` on a repeated key in any object."""
    return json.loads(body, object_pairs_hook=_no_duplicates)


class StrictJsonRoute(APIRoute):
    """An ``APIRoute`` whose JSON body may not repeat a key (422 naming the key)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            body = await request.body()
            if body:
                try:
                    request._json = loads_strict(body)
                except DuplicateKey as exc:
                    key = exc.key[:64]
                    raise RequestValidationError(
                        [
                            {
                                "type": "duplicate_key",
                                "loc": ("body", key),
                                "msg": f"key {key!r} appears more than once in one JSON object",
                            }
                        ]
                    ) from None
                except ValueError:  # not JSON, or not UTF-8 (FastAPI would answer an undocumented 400)
                    raise RequestValidationError(
                        [{"type": "json_invalid", "loc": ("body",), "msg": "body is not valid UTF-8 JSON"}]
                    ) from None
            return await handler(request)

        return strict
