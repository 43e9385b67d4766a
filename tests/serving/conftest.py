"""Fixtures of the serving room: an in-process app on a private SQLite database."""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serving.schemas import DecisionRequest


@dataclass
class Harness:
    client: Any  # fastapi.testclient.TestClient
    app: Any
    var_dir: Path
    logs: io.StringIO

    def key(self, role: str) -> dict[str, str]:
        from serving.keys import create_key

        created = create_key(self.app.state.services.engine, role)
        return {"Authorization": f"Bearer {created.token}"}

    def log_lines(self) -> list[str]:
        return [line for line in self.logs.getvalue().splitlines() if line.strip()]


@pytest.fixture
def body() -> dict[str, Any]:
    """The OpenAPI example decision request (a fresh copy the test may mutate)."""
    extra: Any = DecisionRequest.model_config["json_schema_extra"]
    result: dict[str, Any] = copy.deepcopy(extra["examples"][0])
    return result


@pytest.fixture
def make_harness(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build an app with env overrides; its JSON log lines are captured in ``logs``."""
    with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; irrelevant here
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import ServingSettings
    from serving.db import dispose_engines
    from serving.logs import JsonFormatter, RequestIdFilter

    opened: list[tuple[Any, logging.Handler]] = []

    def build(**env: str) -> Harness:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(
            "CREDITDESK_LOAD_MODELS_ON_STARTUP", env.get("CREDITDESK_LOAD_MODELS_ON_STARTUP", "false")
        )
        app = create_app(ServingSettings())
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        logging.getLogger("creditdesk").addHandler(handler)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append((client, handler))
        return Harness(client=client, app=app, var_dir=var_dir, logs=stream)

    yield build
    for client, handler in opened:
        client.__exit__(None, None, None)
        logging.getLogger("creditdesk").removeHandler(handler)
    dispose_engines()
