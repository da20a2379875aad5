"""Settings shared by every command, read from the environment.

Everything local (database files, Airflow home, MLflow store, reports) lives under one folder,
``PORTRAIT_HOME``, so that a checkout can be wiped or moved as a unit.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _default_project_dir() -> Path:
    """The repository root when running from a checkout (editable install)."""
    return PACKAGE_DIR.parent


class Settings(BaseSettings):
    """Portrait settings. Every field maps to a ``PORTRAIT_*`` variable."""

    model_config = SettingsConfigDict(env_prefix="PORTRAIT_", extra="ignore")

    home: Path = Field(default_factory=lambda: _default_project_dir() / ".portrait")
    project_dir: Path = Field(default_factory=_default_project_dir)
    database_url: str | None = None
    bi_password: str | None = None
    pseudonym_key: str | None = None
    # Tracking store for MLflow; read without prefix because MLflow users already set it.
    mlflow_tracking_uri: str | None = Field(default=None, validation_alias="MLFLOW_TRACKING_URI")
    # where deliveries arrive (one folder each); default PORTRAIT_HOME/landing/inbox
    inbox: Path | None = None
    # how often the scheduler's landing_ingest looks into the inbox (cron, UTC)
    inbox_poll: str = "*/5 * * * *"
    # the landing gate refuses a batch whose newest event lies more days than this before its date
    stale_batch_days: int = Field(default=7, ge=0)
    # customer-hash slices per model in the customer_scoring DAG: one task each, for workers on
    # other machines; one machine gains nothing from more (each task is a process of its own)
    scoring_slices: int = Field(default=1, ge=1)
    # the Airflow API server of `portrait scheduler` (127.0.0.1 only)
    scheduler_port: int = Field(default=8765, ge=1, le=65535)

    @cached_property
    def dags_dir(self) -> Path:
        return self.project_dir / "dags"

    @cached_property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.home / "landing" / "inbox"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def embedded(self) -> bool:
        """True when Portrait runs its own PostgreSQL (no PORTRAIT_DATABASE_URL)."""
        return not self.database_url

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"


def get_settings() -> Settings:
    """Fresh settings each call: tests and sub-commands change the environment."""
    return Settings()


# Telemetry is off everywhere: the platform runs offline and users expect silence.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def apply_telemetry_off(env: dict[str, str] | None = None) -> dict[str, str]:
    """Set the telemetry switches in ``env`` (default: this process) unless already set."""
    target = os.environ if env is None else env
    for key, value in TELEMETRY_OFF.items():
        target.setdefault(key, value)
    return target  # type: ignore[return-value]
