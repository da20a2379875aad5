"""Settings, URLs and error lines: pure logic."""

from __future__ import annotations

import os
from pathlib import Path

from portrait import warehouse
from portrait.config import TELEMETRY_OFF, Settings, apply_telemetry_off
from portrait.errors import InputError
from portrait.orchestration.env import airflow_env


def test_home_defaults_to_dot_portrait_in_the_repo(monkeypatch):
    monkeypatch.delenv("PORTRAIT_HOME", raising=False)
    settings = Settings()
    assert settings.home == Path(__file__).resolve().parents[2] / ".portrait"
    assert settings.embedded


def test_database_url_switches_to_external_mode(monkeypatch):
    monkeypatch.setenv("PORTRAIT_DATABASE_URL", "postgresql://a:b@db:5432/x")
    assert not Settings().embedded


def test_mlflow_defaults_to_sqlite_under_home_unless_tracking_uri_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert Settings(home=tmp_path).tracking_uri() == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert Settings(home=tmp_path).tracking_uri() == "http://mlflow:5000"


def test_mask_url_hides_the_password_only():
    url = warehouse.make_url("portrait", "p@ss:w/rd", "127.0.0.1", 5433, "portrait")
    masked = warehouse.mask_url(url)
    assert "p%40ss" not in masked and masked == "postgresql://portrait:***@127.0.0.1:5433/portrait"


def test_error_line_names_what_where_and_rule():
    err = InputError(
        "missing required column", where="customers.csv, column customer_id", rule="required"
    )
    assert (
        err.line()
        == "missing required column | where: customers.csv, column customer_id | rule: required"
    )


def test_airflow_env_points_at_project_home_and_keeps_user_overrides(tmp_path):
    settings = Settings(
        home=tmp_path, database_url="postgresql://u:p@db.example:5433/wh", scheduler_port=9100
    )
    env = airflow_env(settings, base={"AIRFLOW__CORE__LOAD_EXAMPLES": "True"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
    # metadata on the warehouse's server, in a database of its own; tasks in parallel
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == "postgresql+psycopg2://u:p@db.example:5433/airflow"
    )
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "9100"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:9100/execution/"
    assert env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == str(tmp_path / "logs" / "airflow")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True", "a value the user set must win"
    assert env["DO_NOT_TRACK"] == "1"
    passwords = tmp_path / "secrets" / "airflow-passwords.json"
    assert passwords.stat().st_mode & 0o777 == 0o600
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(passwords)


def test_telemetry_switches_are_all_set_but_never_override():
    env = apply_telemetry_off({"DO_NOT_TRACK": "0"})
    assert set(TELEMETRY_OFF) <= set(env)
    assert env["DO_NOT_TRACK"] == "0"


def test_an_invocation_inside_the_build_environment_removes_none_of_its_variables(
    monkeypatch, tmp_path
):
    """build() sets dbt's variables for the whole build; the parse thread's own invocation must
    leave them set when it ends (Great Expectations reads os.environ in the other thread)."""
    from portrait.dbt_runner import dbt_environment

    monkeypatch.delenv("PORTRAIT_DB_HOST", raising=False)
    settings = Settings(home=tmp_path, database_url="postgresql://u:p@db.example:5433/w")
    with dbt_environment(settings):
        with dbt_environment(settings):  # the parse thread's invocation
            pass
        assert os.environ["PORTRAIT_DB_HOST"] == "db.example"
    assert "PORTRAIT_DB_HOST" not in os.environ


def _mimalloc_options(env: dict[str, str], code: str) -> str:
    """What mimalloc (inside pyarrow) reports at start-up in a fresh interpreter."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MIMALLOC_VERBOSE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stderr


def test_importing_portrait_keeps_freed_arrow_memory_mapped_unless_the_user_chose():
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "mimalloc":
        import pytest

        pytest.skip("this pyarrow's default pool is not mimalloc")
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DECOMMITS"}
    assert "'purge_decommits': 1" in _mimalloc_options(env, "import pyarrow")
    assert "'purge_decommits': 0" in _mimalloc_options(env, "import portrait.ingest.loader")
    chosen = {**env, "MIMALLOC_PURGE_DECOMMITS": "1"}
    assert "'purge_decommits': 1" in _mimalloc_options(chosen, "import portrait.ingest.loader")
