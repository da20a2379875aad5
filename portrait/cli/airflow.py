"""`portrait airflow -- ARGS`: the Airflow CLI with this project's Airflow home and settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from portrait.orchestration.env import airflow_env, prepare_airflow_home


def airflow(ctx: typer.Context) -> None:
    """Run the Airflow CLI, e.g. `portrait airflow -- dags list`."""
    env = airflow_env()
    prepare_airflow_home(env=env)
    binary = Path(sys.executable).with_name("airflow")
    args = [str(binary), *ctx.args]
    os.execve(binary, args, env)  # noqa: S606 - replaces this process with Airflow's CLI
