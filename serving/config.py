"""Settings of the decision API, read from the environment like every other room's.

They extend the shared settings object so one ``CREDITDESK_*`` namespace configures the
whole process; every limit has a default so ``creditdesk serve`` runs with no configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from creditdesk.settings import Settings


class ServingSettings(Settings):
    """Limits and secrets of the HTTP edge (env prefix ``CREDITDESK_``)."""

    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        gt=0,
        description="largest request body accepted; enforced while reading, whatever Content-Length says",
    )
    rate_limit_per_minute: float = Field(
        default=6000.0, gt=0, description="sustained requests per minute per API key (all workers together)"
    )
    rate_limit_backend: Literal["database", "memory"] = Field(
        default="database",
        description="where the buckets live: 'database' (shared by every worker on the service database) "
        "or 'memory' (per worker process: N workers admit N times the rate)",
    )
    rate_limit_burst: int = Field(default=200, gt=0, description="requests a key may send at once")
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="how long a verified key is trusted without a database read; bounds revocation delay",
    )
    pii_keys: str | None = Field(
        default=None,
        description=(
            "AES-256-GCM keys for PII at rest: 'kid:base64key[,kid:base64key...]'. "
            "Old ids stay listed so old rows still decrypt; default: a key file under var/secrets"
        ),
    )
    pii_active_key_id: str | None = Field(
        default=None, description="key id used to encrypt new PII; default: the first listed key"
    )
    log_level: str = Field(default="INFO", description="level of the JSON logs on stderr")
    instruments_path: Path | None = Field(
        default=None,
        description=(
            "instrument master (instruments.parquet) of the population the champion was trained on, "
            "used by the online trading features; default: var/demo/raw/instruments.parquet"
        ),
    )
    load_models_on_startup: bool = Field(
        default=True, description="load the champion models and policy when the app starts"
    )

    @property
    def resolved_instruments_path(self) -> Path:
        return self.instruments_path or self.var_dir / "demo" / "raw" / "instruments.parquet"

    @property
    def pii_key_file(self) -> Path:
        return self.var_dir / "secrets" / "pii_keys"


def get_serving_settings() -> ServingSettings:
    """Fresh settings from the environment (not cached: tests and workers set env first)."""
    return ServingSettings()
