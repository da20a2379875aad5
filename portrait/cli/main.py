"""The `portrait` command: one module per verb, one clear line on errors."""

from __future__ import annotations

import sys
import warnings
from typing import NoReturn

import typer
from typer._click import exceptions as click  # typer vendors click: its exceptions live here

from portrait.cli import airflow as airflow_cmd
from portrait.cli import batches as batches_cmd
from portrait.cli import db
from portrait.cli import dq as dq_cmd
from portrait.cli import scheduler as scheduler_cmd
from portrait.cli.build import build
from portrait.cli.catalogue import catalogue
from portrait.cli.contract import contract
from portrait.cli.demo import demo
from portrait.cli.docs import docs
from portrait.cli.evaluate import evaluate
from portrait.cli.generate import generate
from portrait.cli.ingest import ingest
from portrait.cli.models import models, promote
from portrait.cli.output import err_console
from portrait.cli.run import run
from portrait.cli.score import score
from portrait.cli.serve import keys_app, run_worker, serve
from portrait.cli.train import train
from portrait.config import apply_telemetry_off
from portrait.errors import PortraitError, UsageError, from_os_error

app = typer.Typer(
    name="portrait",
    help="Governed customer warehouse, portraits and precision marketing for banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(batches_cmd.app, name="batches")
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
app.command("docs")(docs)
app.command("train")(train)
app.command("score")(score)
app.command("models")(models)
app.command("promote")(promote)
app.command("evaluate")(evaluate)
app.command("serve")(serve)
app.command("worker")(run_worker)
app.add_typer(keys_app, name="api-keys")


def _usage_error(err: click.UsageError) -> UsageError:
    command = err.ctx.command_path if err.ctx else "portrait"
    return UsageError(err.format_message(), where=command, rule=f"see `{command} --help`")


def _fail(err: PortraitError) -> NoReturn:
    err_console.print(f"portrait: error: {err.line()}", markup=False, soft_wrap=True)
    sys.exit(err.exit_code)


def main() -> None:
    """Run a verb; every error the user can act on ends as one line on stderr and an exit code."""
    apply_telemetry_off()
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    try:
        code = app(standalone_mode=False)
    except click.NoArgsIsHelpError as err:
        typer.echo(err.ctx.get_help() if err.ctx else "see `portrait --help`")
        sys.exit(err.exit_code)
    except click.UsageError as err:
        _fail(_usage_error(err))
    except click.ClickException as err:
        _fail(PortraitError(err.format_message()))
    except typer.Abort:
        _fail(PortraitError("aborted"))
    except PortraitError as err:
        _fail(err)
    except OSError as err:
        known = from_os_error(err)
        if known is None:  # not a refusal the user can fix: a bug keeps its traceback
            raise
        _fail(known)
    except KeyboardInterrupt:
        err_console.print("portrait: interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
