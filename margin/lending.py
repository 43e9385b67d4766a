"""Former home of the margin desk, kept as a re-export while callers move to the new modules.

The margin room is now: ``margin.domain`` (nouns, limits), ``margin.planners`` (pure
transfers), ``margin.checks`` (pre-trade checks), ``margin.repository`` (SQL, unit of work),
``margin.service`` (``MarginDesk``), ``margin.opening`` (``open_from_decision``),
``margin.book`` and ``margin.marking`` (the book through the engine).
"""

from __future__ import annotations

from margin.domain import Facility, MarginView, MarkResult, OperationResult
from margin.service import MarginDesk

__all__ = ["Facility", "MarginDesk", "MarginView", "MarkResult", "OperationResult"]
