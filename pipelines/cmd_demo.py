"""``creditdesk demo``: the main job on embedded defaults."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
