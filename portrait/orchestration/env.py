"""The environment that Airflow, dbt, GX and MLflow run in, derived from Portrait's settings.

One configuration for every way Airflow runs here (`portrait run` in-process, `portrait scheduler`,
`portrait airflow -- ARGS`): metadata in PostgreSQL on the warehouse's server (its own database),
LocalExecutor sized to the machine's cores, the API server on 127.0.0.1 only, logs under
PORTRAIT_HOME/logs. Cheap to import: DAG files and the CLI both use it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from portrait.config import Settings, apply_telemetry_off, get_settings

ADMIN_USER = "admin"


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.scheduler_port}"


def airflow_logs(settings: Settings) -> Path:
    return settings.logs_dir / "airflow"


def passwords_file(settings: Settings) -> Path:
    """The UI's admin password (Airflow's simple auth manager), generated once, mode 0600."""
    from portrait import warehouse

    path = settings.secrets_dir / "airflow-passwords.json"
    if not path.exists():
        password = warehouse.secret_file(settings, "airflow-admin.password")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({ADMIN_USER: password}, handle)
    return path


def admin_password(settings: Settings) -> str:
    return json.loads(passwords_file(settings).read_text())[ADMIN_USER]


def airflow_env(
    settings: Settings | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for the Airflow CLI, its components and in-process runs.

    Values the user already set win, so a production deployment can override any of them.
    """
    from portrait import warehouse

    settings = settings or get_settings()
    env = dict(os.environ if base is None else base)
    home = settings.airflow_home
    api = api_url(settings)
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # one task per core: the tasks are dbt, PostgreSQL and model fitting, all CPU-bound
        "AIRFLOW__CORE__PARALLELISM": str(max(2, os.cpu_count() or 2)),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.scheduler_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": warehouse.secret_file(settings, "airflow-jwt.key"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_logs(settings)),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(
            airflow_logs(settings) / "dag_processor"
        ),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # the worker's log server: a port of its own beside the API server's
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.scheduler_port + 1),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(settings.scheduler_port + 2),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_SERVER_PORT": str(settings.scheduler_port + 3),
        "PORTRAIT_HOME": str(settings.home),
        "PORTRAIT_PROJECT_DIR": str(settings.project_dir),
        "MLFLOW_TRACKING_URI": settings.tracking_uri(),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = warehouse.airflow_metadata_url(settings)
    apply_telemetry_off(env)
    return env


def prepare_airflow_home(
    settings: Settings | None = None, env: dict[str, str] | None = None
) -> None:
    """Create the Airflow home and its metadata database, and migrate it once per Airflow
    version and database."""
    import hashlib
    import subprocess
    import sys
    from importlib.metadata import version

    from portrait import warehouse

    settings = settings or get_settings()
    env = env or airflow_env(settings)
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow_logs(settings).mkdir(parents=True, exist_ok=True)
    metadata = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not metadata.startswith("sqlite") and metadata == warehouse.airflow_metadata_url(settings):
        warehouse.ensure_airflow_database(settings)  # Portrait's own; any other is the user's
    where = hashlib.sha256(metadata.encode()).hexdigest()[:12]
    marker = home / f".migrated-{version('apache-airflow-core')}-{where}"
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
