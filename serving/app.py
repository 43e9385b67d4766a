"""The app factory: ``create_app(settings)`` builds the decision API with its services.

Everything the app needs (database engine, key store, PII keyring, rate limiter, model
runtime, metrics) is built here from the settings, so two apps in one process (tests) or
one app per worker (uvicorn ``--workers``) never share mutable state by accident.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import creditdesk
from ledger.journal import DecisionJournal, GroupCommit
from serving.approvals import policy_guard
from serving.config import ServingSettings, get_serving_settings
from serving.crypto import load_keyring
from serving.db import get_engine, migrate
from serving.decide import DecisionService
from serving.errors import install_error_handlers
from serving.keys import KeyStore
from serving.logs import configure_logging
from serving.metrics import Metrics
from serving.middleware import EdgeMiddleware
from serving.pii import PiiVault
from serving.ratelimit import RateLimiter, SharedRateLimiter
from serving.routers import admin, approvals, books, decisions, health
from serving.runtime import Loaded, Loader, Runtime, registry_loader, registry_version_loader
from serving.services import Services

log = logging.getLogger(__name__)

API_DESCRIPTION = """
Credit decisions for margin financing: one onboarding application in, a priced and
explained decision out, with every decision journalled for audit.

Authenticate with `Authorization: Bearer <API key>` (create one with
`creditdesk keys create --role onboarding`). Errors are 4xx with a body naming each
offending field and the rule it broke.
"""


def build_services(settings: ServingSettings, loader: Loader | None = None) -> Services:
    engine = get_engine(settings.database_url)
    migrate(settings.database_url)
    keyring = load_keyring(settings.pii_keys, settings.pii_active_key_id, settings.pii_key_file)
    metrics = Metrics()

    def publish(loaded: Loaded) -> None:
        metrics.set_versions(loaded.versions)
        metrics.ready.set(1)

    return Services(
        settings=settings,
        engine=engine,
        keyring=keyring,
        keys=KeyStore(engine, settings.api_key_cache_seconds),
        pii=PiiVault(engine, keyring),
        limiter=(
            SharedRateLimiter(engine, settings.rate_limit_per_minute, settings.rate_limit_burst)
            if settings.rate_limit_backend == "database"
            else RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        ),
        runtime=Runtime(
            loader or registry_loader(settings.tracking_uri, settings.resolved_instruments_path),
            on_load=publish,
            version_loader=None if loader else registry_version_loader(settings.tracking_uri),
            guard=policy_guard(engine, lambda: journal_writer(settings.database_url)),
        ),
        metrics=metrics,
    )


def journal_writer(database_url: str) -> GroupCommit:
    """A writer on the decision journal's chain (the approvals' audit entries go there)."""
    from ledger.storage import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    return GroupCommit(DecisionJournal(engine))


def create_app(settings: ServingSettings | None = None, *, loader: Loader | None = None) -> FastAPI:
    """Build the API. ``loader`` overrides where champions come from (default: MLflow registry)."""
    settings = settings or get_serving_settings()
    configure_logging(settings.log_level)
    svc = build_services(settings, loader)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.load_models_on_startup:
            thread = svc.runtime.load_in_background()
            _app.state.load_thread = thread
            # Open the journal and the books now (migrations, pools), not on the first request.
            _app.state.decision_service = DecisionService(svc)
            _app.state.books = books.Books(svc)
        log.info("decision API started", extra={"database": _redact(settings.database_url)})
        yield
        log.info("decision API stopping")

    app = FastAPI(
        title="creditdesk decision API",
        version=creditdesk.__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = svc
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(decisions.router)
    app.include_router(books.router)
    app.include_router(admin.router)
    app.include_router(approvals.router)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=svc.metrics)
    return app


def _redact(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory serving.app:app_from_env`` (one app per worker)."""
    return create_app(get_serving_settings())
