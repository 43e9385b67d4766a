"""One application in, one journalled decision out: features -> models -> pricing -> journal.

Every step is the shared code of its room — ``features.builders.online_features`` (the same
core as the batch job), the champion models' numpy scoring, ``pricing.decision.decide`` —
so the API never has a second implementation of anything. Trading behaviour comes from the
customer's trades held by the ledger when it has any (``serving.activity``), else from the
request's bounded lists; what was used is stored with the decision, so replay recomputes from
the same inputs. This module only orders the steps and does the I/O: ONE transaction per
decision writes the hash-chained journal entry (whose unique application id is the
idempotency record) and the sealed PII row, and only the transaction that appends the entry
writes the PII. A losing twin of a race, a crash or a full disk therefore leaves either the
whole decision or nothing. Concurrent decisions share that transaction's commit
(``ledger.journal.GroupCommit``): one fsync per burst, not one per request.

The scoring contract expected from the models room (``Loaded.champions``):
``champions.score(X: float64 (n, n_features)) -> obj`` with arrays ``pd_12m``, ``grade``,
``lgd``, ``ccf`` (each length n) and ``reasons`` (n lists of dicts: code, feature, text,
contribution; largest adverse first).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from creditdesk.errors import InputError
from features.builders import online_features
from features.catalogue import CATALOGUE_VERSION, feature_names
from ledger.journal import Append, DecisionJournal, GroupCommit, JournalEntry
from pricing.decision import DecisionInputs, decide
from serving.activity import Activity, from_ledger, from_request
from serving.db import applicant_pii
from serving.replay import Replayer, compare, policy_recorder
from serving.runtime import Loaded
from serving.schemas import MAX_TRADES, Decision, DecisionRequest
from serving.services import Services

_ACCOUNT_AGE = feature_names().index("account_age_days")


class Conflict(Exception):
    """The application id already has a decision made from different inputs."""


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    replayed: bool  # True when the stored decision was returned (idempotent resend)


def request_digest(request: DecisionRequest) -> str:
    """sha256 of the canonical request (PII included, so a changed name is a changed request)."""
    text = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def feature_row(request: DecisionRequest, loaded: Loaded, activity: Activity | None = None) -> np.ndarray:
    """The catalogue-ordered feature row of one application (the batch job's own code)."""
    kyc = request.kyc.model_dump()
    used = activity or from_request(request.trades, request.cash_flows)
    return online_features(
        application={
            "application_date": np.datetime64(request.application_date, "ns"),
            "requested_line_minor": request.requested_line_minor,
            "platform_assets_minor": request.platform_assets_minor,
        },
        customer={**kyc, "account_opened_date": np.datetime64(request.kyc.account_opened_date, "ns")},
        bureau=request.bureau.model_dump(),
        trades=used.trades,
        cash_flows=used.cash_flows,
        instruments=loaded.instruments,
    )


def compute(
    request: DecisionRequest,
    loaded: Loaded,
    features: np.ndarray | None = None,
    activity: Activity | None = None,
) -> dict[str, Any]:
    """The decision's numbers (pure: no I/O). ``features`` given = replay of stored features;
    ``activity`` = the trades and cash flows to use (default: the request's own lists)."""
    row = feature_row(request, loaded, activity) if features is None else features
    model_row = row if loaded.columns is None else row[loaded.columns]
    scored = loaded.champions.score(model_row.reshape(1, -1))
    inputs = DecisionInputs(
        pd_12m=np.asarray(scored.pd_12m, dtype=np.float64),
        lgd=np.asarray(scored.lgd, dtype=np.float64),
        ccf=np.asarray(scored.ccf, dtype=np.float64),
        grade=np.asarray(scored.grade, dtype=np.int64),
        requested_line_minor=np.array([request.requested_line_minor], dtype=np.int64),
        platform_assets_minor=np.array([request.platform_assets_minor], dtype=np.int64),
        annual_income_minor=np.array([request.kyc.annual_income_minor], dtype=np.int64),
        age=np.array([request.kyc.age], dtype=np.float64),
        identity_verified=np.array([request.kyc.identity_verified]),
        is_pep=np.array([request.kyc.is_pep]),
        pep_reviewed=np.array([request.kyc.pep_reviewed]),
        sanctions_hit=np.array([request.kyc.sanctions_hit]),
        trading_history_days=np.array([row[_ACCOUNT_AGE]], dtype=np.float64),
        bureau_default_24m=np.array([request.bureau.bureau_default_24m]),
    )
    batch = decide(inputs, loaded.policy)
    record = batch.record(0, model_reasons=list(scored.reasons[0]))
    finite = np.isfinite(row).tolist()  # JSON has no NaN: a missing feature is stored as null
    return {
        "features": [v if ok else None for v, ok in zip(row.tolist(), finite, strict=True)],
        "record": record,
    }


def _decision(decision_id: str, request: DecisionRequest, stored: Mapping[str, Any]) -> Decision:
    record = stored["record"]
    return Decision(
        decision_id=decision_id,
        application_id=request.application_id,
        customer_id=request.customer_id,
        outcome=record["outcome"],
        pd_12m=record["pd_12m"],
        grade=record["grade"],
        lgd=record["lgd"],
        ead_minor=record["ead_minor"],
        expected_loss_minor=record["expected_loss_minor"],
        economic_capital_minor=record["economic_capital_minor"],
        annual_rate=record["annual_rate"],
        credit_limit_minor=record["credit_limit_minor"],
        max_leverage=record["max_leverage"],
        raroc=record["raroc"],
        reasons=record["reasons"][:4],
        model_versions=stored["versions"],
        policy_version=record["policy_version"],
        decided_at=dt.datetime.fromisoformat(stored["decided_at"]),
    )


# Replay needs no PII (it is never a feature); erased PII must not make a decision unreplayable.
_NO_PII = {"full_name": "-", "national_id": "ERASED", "phone": "+0000000", "address": "-"}


def stored_request(payload: Mapping[str, Any], pii: Mapping[str, str] | None) -> DecisionRequest:
    applicant = dict(pii) if pii else _NO_PII
    return DecisionRequest.model_validate_json(json.dumps({**payload["request"], "applicant": applicant}))


def _pii_writer(
    row: dict[str, object], also: Callable[[sa.Connection], None] | None = None
) -> Callable[[sa.Connection], None]:
    """Writes the PII inside the journal's transaction, only when that transaction appends.

    A row already there has no journal entry (the entry is checked first in the same
    transaction), so it is a leftover of a crash before this fix: it is replaced, never
    adopted — adopting it is how a decision once carried another applicant's PII.
    """
    app_id = row["application_id"]

    def write(conn: sa.Connection) -> None:
        conn.execute(applicant_pii.delete().where(applicant_pii.c.application_id == app_id))
        conn.execute(applicant_pii.insert().values(**row))
        if also is not None:
            also(conn)

    return write


@dataclass(frozen=True)
class Prepared:
    """A computed decision not yet written: the journal append that will store it."""

    decision_id: str
    request: DecisionRequest
    digest: str
    payload: dict[str, Any]
    pii_row: dict[str, object]
    policy_row: Callable[[sa.Connection], None] | None = None  # the policy, first time it is used

    def append(self) -> Append:
        rows = _pii_writer(self.pii_row, self.policy_row)
        return Append(self.decision_id, str(self.request.application_id), self.payload, rows)

    def append_args(self) -> tuple[str, str, dict[str, Any], Callable[[sa.Connection], None]]:
        item = self.append()
        assert item.rows is not None
        return item.decision_id, item.application_id, item.payload, item.rows


class DecisionService:
    def __init__(self, svc: Services) -> None:
        from ledger.storage import make_engine
        from margin.storage import migrate

        engine = make_engine(svc.settings.database_url)
        migrate(engine)
        self.engine = engine
        self.journal = DecisionJournal(engine)
        # Reads go through the service engine: plain deferred transactions that WAL lets run
        # beside a writer, instead of the ledger engine's BEGIN IMMEDIATE (a write lock).
        self.reader = DecisionJournal(svc.engine)
        # The journal is one chain: its appends serialise on the database's write lock anyway.
        # The group commit queues this process's writers and commits each queue in one
        # transaction, where SQLite's busy handler would make them poll with growing sleeps.
        self.writer = GroupCommit(self.journal)
        self.record_policy = policy_recorder(svc.engine)
        self.replayer = Replayer(svc.engine, svc.runtime)
        self.svc = svc

    def decide(self, request: DecisionRequest) -> Outcome:
        prepared = self.prepare(request)
        if isinstance(prepared, Outcome):
            return prepared
        entry = self.writer.append(*prepared.append_args())
        return self._written(prepared, entry)

    def decide_batch(self, requests: list[DecisionRequest]) -> list[Outcome | Exception]:
        """Validate and compute EVERY application first (nothing written), then write all
        that passed in ONE transaction: either all of them are journalled or none (a storage
        error raises). Per item: an ``Outcome``, or the ``InputError``/``Conflict`` it met."""
        results: list[Outcome | Exception | Prepared] = []
        for request in requests:
            try:
                results.append(self.prepare(request))
            except (InputError, Conflict) as exc:
                results.append(exc)
        pending = [r for r in results if isinstance(r, Prepared)]
        entries = iter(self.writer.append_many([p.append() for p in pending]) if pending else [])
        out: list[Outcome | Exception] = []
        for result in results:
            if not isinstance(result, Prepared):
                out.append(result)
                continue
            try:
                out.append(self._written(result, next(entries)))
            except Conflict as exc:  # a different body for the same id won meanwhile
                out.append(exc)
        return out

    def prepare(self, request: DecisionRequest) -> Outcome | Prepared:
        """The stored decision (idempotent resend), or the computed one ready to write."""
        loaded = self.svc.runtime.require()  # one bundle for the whole request (reload-safe)
        digest = request_digest(request)
        app_key = str(request.application_id)
        existing = self.reader.get_by_application(app_key)
        if existing is not None:
            return self._existing(existing, request, digest)
        start = time.perf_counter()
        activity = self.activity(request)
        numbers = compute(request, loaded, activity=activity)
        self.svc.metrics.decision_latency.observe(time.perf_counter() - start)
        payload = {
            "request": request.model_dump(mode="json", exclude={"applicant"}),
            "request_sha256": digest,
            "trades_source": activity.source,
            "features": numbers["features"],
            "catalogue_version": CATALOGUE_VERSION,
            "record": numbers["record"],
            "versions": loaded.versions,
            "decided_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if activity.source == "ledger":  # the request's lists were not used: keep what was
            payload["ledger_activity"] = activity.to_json()
        pii_row = self.svc.pii.seal_row(request.application_id, request.applicant.model_dump())
        policy_row = self.record_policy(loaded.policy)
        return Prepared(uuid.uuid4().hex, request, digest, payload, pii_row, policy_row)

    def _written(self, prepared: Prepared, entry: JournalEntry) -> Outcome:
        if entry.decision_id != prepared.decision_id:  # a concurrent twin won: answer with its decision
            return self._existing(entry, prepared.request, prepared.digest)
        decision = _decision(prepared.decision_id, prepared.request, prepared.payload)
        self.svc.metrics.decisions.labels(decision.outcome, str(decision.grade)).inc()
        return Outcome(decision, replayed=False)

    def activity(self, request: DecisionRequest) -> Activity:
        """The ledger's trades of this customer when it holds any, else the request's lists."""
        held = from_ledger(self.svc.engine, request.customer_id, request.application_date, MAX_TRADES)
        return held if held is not None else from_request(request.trades, request.cash_flows)

    def _existing(self, entry: Any, request: DecisionRequest, digest: str) -> Outcome:
        if entry.payload.get("request_sha256") != digest:
            raise Conflict(
                f"application_id {request.application_id} already has decision {entry.decision_id} "
                "made from different inputs; use a new application_id"
            )
        return Outcome(_decision(entry.decision_id, request, entry.payload), replayed=True)

    def get(self, decision_id: str, replay: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The stored decision (inputs without PII, features, outputs, versions) and, with
        ``replay``, the numbers recomputed from the stored features with the loaded bundle."""
        entry = self.reader.get(decision_id)
        if entry is None or "audit" in entry.payload:  # audit entries share the chain, not the route
            raise KeyError(decision_id)
        stored = dict(entry.payload)
        stored["decision_id"] = entry.decision_id
        stored["journal_seq"] = entry.seq
        stored["journal_hash"] = entry.hash
        if not replay:
            return stored, None
        return stored, replay_stored(stored, self.replayer, self.svc.runtime.current)


def replay_stored(stored: Mapping[str, Any], replayer: Replayer, current: Loaded | None) -> dict[str, Any]:
    """Recompute a stored decision with the bundle that made it; field-by-field comparison."""
    loaded, source = replayer.bundle_for(stored["versions"], current)
    request = stored_request(stored, None)
    activity = Activity.from_json(stored["ledger_activity"]) if "ledger_activity" in stored else None
    again = compute(request, loaded, activity=activity)  # features recomputed from stored inputs
    replayed = dict(again["record"])
    replayed["features_match"] = again["features"] == stored["features"]
    replayed["fields"] = compare(stored["record"], again["record"])
    replayed["bundle"] = source
    return replayed
