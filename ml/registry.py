"""MLflow tracking and registry access: one place that knows the URI, experiments and aliases."""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from portrait.config import Settings, apply_telemetry_off

CHAMPION = "champion"
CHALLENGER = "challenger"


def configure(settings: Settings):
    """Point MLflow at the tracking store of these settings; returns an MlflowClient."""
    apply_telemetry_off()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # loading a model, skops looks a function up by name in every imported module; in an
    # Airflow task each deprecated Airflow attribute it touches warned (1,160 log warnings)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.io\._utils")
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if not settings.mlflow_tracking_uri:
        # MLflow exports the URI to the environment; the next Settings (another PORTRAIT_HOME
        # in the same process) must not mistake it for the user's choice
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment(settings: Settings, model_name: str) -> str:
    """The experiment of a model (created on first use, artifacts under PORTRAIT_HOME locally)."""
    import mlflow

    name = f"portrait/{model_name}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # a local SQLite store keeps its artifacts beside it (MLflow's default would be ./mlruns in
    # the working directory); a tracking server decides for itself
    location = None
    uri = settings.tracking_uri()
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def code_version(settings: Settings) -> str:
    """Git commit of the checkout (with +dirty), or the package version outside a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.project_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=settings.project_dir,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"portrait {version('portrait')}"


@dataclass
class VersionInfo:
    version: str
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str]


def by_alias(client, name: str, alias: str) -> VersionInfo | None:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    run = client.get_run(mv.run_id)
    return VersionInfo(str(mv.version), mv.run_id, dict(run.data.metrics), dict(mv.tags))


def version(client, name: str, number: str) -> VersionInfo | None:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(name, str(number))
    except MlflowException:
        return None
    run = client.get_run(mv.run_id)
    return VersionInfo(str(mv.version), mv.run_id, dict(run.data.metrics), dict(mv.tags))
