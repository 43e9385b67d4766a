"""CLI commands of the `models` room (registered on the main app by ``pipelines.cli``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``; commands import heavy libraries in their bodies."""
