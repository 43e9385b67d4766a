"""Exact replay of a stored decision with the models and policy that made it.

A decision records its model versions (``pd``, ``lgd``, ``ead``, ``catalogue``), the
policy's version and hash and the instrument master's fingerprint. Replay rebuilds that
bundle: the loaded one when it is the same, else the recorded model versions from the
registry (``Runtime.version_loader``) and the recorded policy from ``serving_policies``
(every policy is stored there, in the transaction of the first decision made under it).
Bundles are cached (a few, least recently used), so replaying a day of old decisions
downloads each model version once. The comparison is field by field and bit for bit:
stored floats went through JSON (exact round trip of the shortest repr), so ``==`` on the
recomputed Python floats is the test.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from serving.db import policies
from serving.runtime import Loaded, Runtime, bundle

MODEL_KEYS = ("pd", "lgd", "ead", "catalogue")
CACHE_SIZE = 4


class ReplayUnavailable(LookupError):
    """What made the decision is gone (models deleted from the registry, policy unknown)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def policy_recorder(engine: Engine) -> Callable[[Any], Callable[[Connection], None] | None]:
    """``record(policy)`` -> a row writer storing ``policy`` once (None when already stored).

    The writer runs inside the decision's own transaction, so no journalled decision can
    name a policy the database does not hold.
    """
    known: set[str] = set()
    with engine.connect() as conn:
        known.update(r[0] for r in conn.execute(sa.select(policies.c.policy_hash)))

    def record(policy: Any) -> Callable[[Connection], None] | None:
        digest = str(policy.policy_hash)
        if digest in known:
            return None

        def write(conn: Connection) -> None:
            found = conn.execute(sa.select(policies.c.policy_hash).where(policies.c.policy_hash == digest))
            if found.first() is None:
                conn.execute(
                    policies.insert().values(
                        policy_hash=digest,
                        version=str(policy.version),
                        document=json.dumps(policy.model_dump(mode="json"), sort_keys=True),
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
            known.add(digest)  # an aborted transaction only costs one more check next time

        return write

    return record


def stored_policy(engine: Engine, policy_hash: str) -> Any:
    from pricing.policy import policy_from_mapping

    with engine.connect() as conn:
        row = conn.execute(
            sa.select(policies.c.document).where(policies.c.policy_hash == policy_hash)
        ).first()
    if row is None:
        raise ReplayUnavailable(f"policy {policy_hash[:12]}… was never recorded", rule="policy_unknown")
    return policy_from_mapping(json.loads(row.document), source="serving_policies", policy_hash=policy_hash)


class Replayer:
    """Bundles of recorded versions, cached; ``compare`` reports field-by-field equality."""

    def __init__(self, engine: Engine, runtime: Runtime) -> None:
        self.engine = engine
        self.runtime = runtime  # its version_loader is read at each load (swappable, like its loader)
        self._cache: OrderedDict[tuple[tuple[str, str], ...], Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def bundle_for(self, recorded: Mapping[str, str], current: Loaded | None) -> tuple[Loaded, str]:
        """The bundle that made a decision with ``recorded`` versions, and where it came from."""
        if current is not None and dict(current.versions) == dict(recorded):
            return current, "loaded"
        key = tuple(sorted(recorded.items()))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key], "cache"
            loaded = self._build(recorded, current)
            self._cache[key] = loaded
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return loaded, "registry"

    def _build(self, recorded: Mapping[str, str], current: Loaded | None) -> Loaded:
        same_models = current is not None and all(
            current.versions.get(k) == recorded.get(k) for k in MODEL_KEYS
        )
        if same_models:
            assert current is not None
            champions = current.champions
        elif self.runtime.version_loader is None:
            raise ReplayUnavailable("no registry to load recorded model versions from", rule="no_registry")
        else:
            try:
                champions = self.runtime.version_loader({k: str(recorded[k]) for k in ("pd", "lgd", "ead")})
            except (LookupError, KeyError) as exc:
                raise ReplayUnavailable(
                    f"the models that made this decision ({_models(recorded)}) were deleted "
                    f"from the registry: {exc}",
                    rule="models_deleted",
                ) from None
        policy_hash = str(recorded.get("policy_hash", ""))
        if current is not None and current.versions.get("policy_hash") == policy_hash:
            policy = current.policy
        else:
            policy = stored_policy(self.engine, policy_hash)
        universe = None  # the loaded master when it is the recorded one, else the model's own
        if current is not None and current.versions.get("instruments") == recorded.get("instruments"):
            universe = current.instruments
        # The reasons are recomputed the way the decision was made (decisions from before
        # the TreeSHAP tables recorded no method: native).
        method = str(recorded.get("reasons", "native"))
        loaded = bundle(champions, policy, instruments=universe, reasons=method)
        mismatch = {
            k: [recorded.get(k), loaded.versions.get(k)]
            for k in recorded
            if loaded.versions.get(k) != recorded.get(k)
        }
        if mismatch:
            raise ReplayUnavailable(
                f"cannot rebuild the recorded bundle exactly (recorded, rebuilt): {mismatch}",
                rule="bundle_mismatch",
            )
        return loaded


def _models(recorded: Mapping[str, str]) -> str:
    return ", ".join(f"{k} {recorded.get(k)}" for k in ("pd", "lgd", "ead"))


def compare(stored: Mapping[str, Any], replayed: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field of the stored record beside its recomputed value, ``equal`` bit for bit."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(stored) | set(replayed)):
        a, b = stored.get(name), replayed.get(name)
        out[name] = {"stored": a, "replayed": b, "equal": _same(a, b)}
    return out


def _same(a: Any, b: Any) -> bool:
    """Equality that is exact for floats (``0.1 == 0.1`` by bits; NaN equals NaN)."""
    return json.dumps(a, sort_keys=True, allow_nan=True) == json.dumps(b, sort_keys=True, allow_nan=True)
