"""The decision journal: append-only, hash-chained, tamper-evident, idempotent per application."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import Engine, text

from creditdesk.errors import InputError
from ledger.journal import GENESIS_HASH, DecisionJournal, canonical_json


def payload(i: int) -> dict:
    return {
        "outcome": "approve",
        "pd_12m": 0.0123 + i / 1000,
        "grade": "B",
        "models": {"pd": 3},
        "name": "Zoë",
    }


def filled(engine: Engine, n: int = 5) -> DecisionJournal:
    journal = DecisionJournal(engine, clock=iter(range(1_000, 2_000)).__next__)
    for i in range(n):
        journal.append(f"d{i}", f"a{i}", payload(i))
    return journal


def test_hash_is_sha256_of_the_documented_fields(engine: Engine) -> None:
    journal = DecisionJournal(engine, clock=lambda: 42)
    entry = journal.append("dec-1", "app-1", {"b": 1, "a": [1.5, "x"]})
    body = '{"a":[1.5,"x"],"b":1}'
    expected = hashlib.sha256(
        f"{GENESIS_HASH}\x1f1\x1fdec-1\x1fapp-1\x1f42\x1f{body}\x1f".encode()
    ).hexdigest()
    assert entry.hash == expected and entry.prev_hash == GENESIS_HASH and entry.seq == 1
    second = journal.append("dec-2", "app-2", {})
    assert second.prev_hash == entry.hash and second.seq == 2
    assert journal.verify() == []


def test_get_and_idempotency_on_application(engine: Engine) -> None:
    journal = filled(engine)
    assert journal.get("d3").payload == payload(3)
    assert journal.get_by_application("a3").decision_id == "d3"
    assert journal.get("nope") is None and journal.get_by_application("nope") is None
    again = journal.append("d-other", "a3", {"different": True})
    assert again.decision_id == "d3" and again.payload == payload(3)
    with pytest.raises(InputError, match="decision_id"):
        journal.append("d3", "a-new", {})
    assert journal.verify() == []


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            "UPDATE decision_journal SET payload = replace(payload, 'approve', 'decline') WHERE seq = 3",
            "hash",
        ),
        ("DELETE FROM decision_journal WHERE seq = 2", "missing"),
        ("DELETE FROM decision_journal WHERE seq = 5", "deleted"),
        ("UPDATE decision_journal SET created_at_ns = created_at_ns + 1 WHERE seq = 1", "hash"),
    ],
)
def test_verify_detects_edits_and_deletions(engine: Engine, tamper: str, problem: str) -> None:
    journal = filled(engine)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    breaks = journal.verify()
    assert breaks and any(problem in b.problem for b in breaks)


def test_a_recomputed_row_still_breaks_the_link_to_the_next(engine: Engine) -> None:
    """Rewriting a row and its own hash consistently is caught by the next row's prev_hash."""
    journal = filled(engine)
    row = journal.get("d1")
    assert row is not None
    forged = dict(row.payload, outcome="decline")
    from ledger.journal import entry_hash

    text_payload = canonical_json(forged)
    digest = entry_hash(
        row.prev_hash, row.seq, row.decision_id, row.application_id, row.created_at_ns, text_payload
    )
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE decision_journal SET payload = :p, hash = :h WHERE seq = :s"),
            {"p": text_payload, "h": digest, "s": row.seq},
        )
    breaks = journal.verify()
    assert [(b.seq, b.problem) for b in breaks] == [(row.seq + 1, "prev_hash does not match the row before")]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "a", {}), "decision_id"),
        (("d", "x" * 65, {}), "application_id"),
        (("d", "a", {"x": float("nan")}), "payload"),
        (("d", "a", {"x": object()}), "payload"),
        (("d", "a", ["not", "a", "dict"]), "payload"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(engine: Engine, args: tuple, field: str) -> None:
    journal = DecisionJournal(engine)
    with pytest.raises(InputError) as info:
        journal.append(*args)
    assert info.value.field == field
    assert journal.verify() == [] and journal.get("d") is None


def test_canonical_json_is_key_order_independent() -> None:
    assert canonical_json({"b": 1, "a": {"y": 2, "x": 1}}) == canonical_json({"a": {"x": 1, "y": 2}, "b": 1})
    assert json.loads(canonical_json({"é": "ü"})) == {"é": "ü"}
