"""`portrait airflow -- ARGS`: the Airflow CLI with this project's Airflow home and settings."""

from __future__ import annotations

import os
import sys

import typer

from portrait.orchestration.env import airflow_env, prepare_airflow_home


def airflow(ctx: typer.Context) -> None:
    """Run the Airflow CLI, e.g. `portrait airflow -- dags list`."""
    from portrait import warehouse

    warehouse.ensure_started()  # Airflow's metadata lives on the warehouse's server
    env = airflow_env()
    prepare_airflow_home(env=env)
    # Airflow's CLI, its start-up log lines on stderr (portrait.orchestration.airflow_cli)
    args = [sys.executable, "-m", "portrait.orchestration.airflow_cli", *ctx.args]
    os.execve(sys.executable, args, env)  # noqa: S606 - replaces this process with Airflow's CLI
