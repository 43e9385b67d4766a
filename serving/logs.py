"""Structured JSON logs: one object per line, every line carrying the request id.

The request id lives in a context variable set by the edge middleware, so any logger in
any room that runs inside a request gets it for free. Log records carry ids, routes,
statuses and timings only — request bodies (and the PII in them) are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import creditdesk

LOGGER = "serving"  # the room's logger: every serving module logs under it as ``__name__``

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("creditdesk_request_id", default="-")

# Attributes every LogRecord has; anything else passed through ``extra=`` is emitted as a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Stamp the current request id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; extras become top-level fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def log_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` for our loggers and uvicorn's, all JSON on stderr.

    uvicorn's own access log is replaced by the edge middleware's (which knows the request
    id and the route), so it is silenced here.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "serving.logs.RequestIdFilter"}},
        "formatters": {"json": {"()": "serving.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            **{
                room: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
                for room in creditdesk.ROOMS  # modules log as ``__name__``, e.g. ``serving.app``
            },
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        # Other libraries' warnings reach the root: JSON too, so every line of stderr parses.
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def adopt_loggers(*names: str, level: int = logging.WARNING) -> None:
    """Route libraries that install their own plain-text handler (MLflow does, at import)
    through our JSON handler, at ``level``, so the service's stderr stays one JSON per line."""
    ours = logging.getLogger(LOGGER).handlers
    if not ours:
        return
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = list(ours)
        logger.propagate = False
        logger.setLevel(level)


def configure_logging(level: str = "INFO") -> None:
    """Install the JSON config unless this process already has creditdesk handlers."""
    import logging.config

    logger = logging.getLogger(LOGGER)
    if logger.handlers:
        return
    logging.config.dictConfig(log_config(level))
    if not logging.getLogger(LOGGER).handlers:  # pragma: no cover - defensive
        logging.getLogger(LOGGER).addHandler(logging.StreamHandler(sys.stderr))
