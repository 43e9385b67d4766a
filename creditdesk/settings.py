"""One settings object, read from the environment (prefix ``CREDITDESK_``).

Everything runtime lives under ``var/`` relative to the working directory unless a
variable says otherwise, so a fresh clone runs with no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# ../shared beside the repository (where CI and the README put it), whatever the working dir.
_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED_DIR = _REPO_ROOT.parent / "shared"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDITDESK_", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="root of all runtime output")
    shared_dir: Path = Field(
        default=DEFAULT_SHARED_DIR,
        description="read-only public datasets and design notes (datasets under shared_dir/datasets)",
    )
    db_url: str | None = Field(
        default=None, description="ledger and decision-log database; default sqlite:///var/ledger.db"
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking and registry; default sqlite:///var/mlflow.db",
    )
    seed: int = Field(default=42, description="default random seed for jobs that take one")

    @property
    def datasets_dir(self) -> Path:
        return self.shared_dir / "datasets"

    @property
    def sp500_prices_path(self) -> Path:
        return self.datasets_dir / "sp500_prices" / "daily_prices.parquet"

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.var_dir / 'ledger.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.var_dir / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.var_dir / "mlartifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
