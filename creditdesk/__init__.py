"""creditdesk: shared settings and process set-up used by every room.

Importing this package switches off every library's phone-home before any of them is
imported, so no process of ours calls home even when started outside the Makefile.
"""

from __future__ import annotations

import os

TELEMETRY_OFF: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


# The top-level packages (rooms) of the repository: each module logs as ``__name__``
# (``serving.app``, ``ledger.service``), so logging is configured per room, not under one root.
ROOMS: tuple[str, ...] = (
    "creditdesk",
    "features",
    "models",
    "pricing",
    "ledger",
    "margin",
    "serving",
    "monitoring",
    "pipelines",
)

# Not telemetry, but noise in a CLI that has its own progress bars.
QUIET: dict[str, str] = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def disable_telemetry() -> None:
    """Set the telemetry-off (and progress-noise) switches unless the caller set them explicitly."""
    for name, value in {**TELEMETRY_OFF, **QUIET}.items():
        os.environ.setdefault(name, value)


disable_telemetry()

__version__ = "0.1.0"
