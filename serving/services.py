"""The per-app service objects (database, keys, PII vault, limiter, runtime, metrics).

Built once by ``create_app`` and hung on ``app.state.services``; routes reach them through
FastAPI dependencies, so a test app and a production app never share state.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from serving.config import ServingSettings
from serving.crypto import Keyring
from serving.keys import KeyStore
from serving.metrics import Metrics
from serving.pii import PiiVault
from serving.ratelimit import RateLimiter
from serving.runtime import Runtime


@dataclass
class Services:
    settings: ServingSettings
    engine: Engine
    keyring: Keyring
    keys: KeyStore
    pii: PiiVault
    limiter: RateLimiter
    runtime: Runtime
    metrics: Metrics
