"""``creditdesk generate``: the synthetic margin-lending population."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
