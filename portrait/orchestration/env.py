"""The environment that Airflow, dbt, GX and MLflow run in, derived from Portrait's settings.

Cheap to import: DAG files and the CLI both use it.
"""

from __future__ import annotations

import os

from portrait.config import Settings, apply_telemetry_off, get_settings


def airflow_env(
    settings: Settings | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for the Airflow CLI and in-process runs, with this project's Airflow home.

    Values the user already set win, so a production deployment can override any of them.
    """
    settings = settings or get_settings()
    env = dict(os.environ if base is None else base)
    home = settings.airflow_home
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
        # SQLite metadata for the embedded default; production sets a PostgreSQL URL instead.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "PORTRAIT_HOME": str(settings.home),
        "PORTRAIT_PROJECT_DIR": str(settings.project_dir),
        "MLFLOW_TRACKING_URI": settings.tracking_uri(),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    apply_telemetry_off(env)
    return env


def prepare_airflow_home(
    settings: Settings | None = None, env: dict[str, str] | None = None
) -> None:
    """Create the Airflow home and migrate its metadata database once per Airflow version."""
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    settings = settings or get_settings()
    env = env or airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    (home / "logs").mkdir(parents=True, exist_ok=True)
    marker = home / f".migrated-{version('apache-airflow-core')}"
    if marker.exists():
        return
    binary = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(binary), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        from portrait.errors import PortraitError

        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PortraitError(
            f"airflow db migrate failed: {tail[0]}", where=str(home), rule="airflow metadata"
        )
    marker.touch()
