"""The `portrait` command: one module per verb, one clear line on errors."""

from __future__ import annotations

import sys
import warnings

import typer

from portrait.cli import airflow as airflow_cmd
from portrait.cli import db
from portrait.cli import dq as dq_cmd
from portrait.cli import scheduler as scheduler_cmd
from portrait.cli.build import build
from portrait.cli.catalogue import catalogue
from portrait.cli.contract import contract
from portrait.cli.demo import demo
from portrait.cli.evaluate import evaluate
from portrait.cli.generate import generate
from portrait.cli.ingest import ingest
from portrait.cli.models import models, promote
from portrait.cli.output import err_console
from portrait.cli.run import run
from portrait.cli.score import score
from portrait.cli.train import train
from portrait.config import apply_telemetry_off
from portrait.errors import PortraitError

app = typer.Typer(
    name="portrait",
    help="Governed customer warehouse, portraits and precision marketing for banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(dq_cmd.app, name="dq")
app.add_typer(scheduler_cmd.app, name="scheduler")
app.command(
    "airflow",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="The Airflow CLI with this project's settings: portrait airflow -- ARGS",
)(airflow_cmd.airflow)
app.command("demo")(demo)
app.command("contract")(contract)
app.command("generate")(generate)
app.command("ingest")(ingest)
app.command("build")(build)
app.command("run")(run)
app.command("catalogue")(catalogue)
app.command("train")(train)
app.command("score")(score)
app.command("models")(models)
app.command("promote")(promote)
app.command("evaluate")(evaluate)


def main() -> None:
    apply_telemetry_off()
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    try:
        app()
    except PortraitError as err:
        err_console.print(f"portrait: error: {err.line()}", markup=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        err_console.print("portrait: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
