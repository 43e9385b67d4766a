"""Helpers shared by the ledger tests (imported as ``tests.ledger.ledger_support``)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import Engine

from ledger.storage import make_engine


def fresh_sqlite(template: Path, directory: Path) -> tuple[Engine, str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ledger-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    return make_engine(url), url


def journal_decision(
    url: str,
    decision_id: str,
    customer_id: int,
    outcome: str = "approve",
    line_minor: int = 100_000,
    annual_rate: float = 0.073,
    max_leverage: float = 1.0,
    **record: str,
) -> None:
    """A decision in the real journal of the database at ``url``, shaped as the API stores it."""
    from ledger.journal import DecisionJournal
    from margin.storage import migrate

    engine = make_engine(url)
    migrate(engine)
    payload = {
        "request": {"customer_id": customer_id},
        "record": {
            "outcome": outcome,
            "credit_limit_minor": line_minor if outcome == "approve" else 0,
            "annual_rate": annual_rate,
            "max_leverage": max_leverage,
            **record,  # e.g. the policy's regime and currency, as decisions carry them
        },
    }
    DecisionJournal(engine).append(decision_id, f"app-{decision_id}", payload)
    engine.dispose()
