"""How every verb reports: a short human summary, or one JSON object with --json."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from portrait.errors import UsageError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = typer.Option(False, "--json", help="Print one machine-readable JSON object.")


def parse_date(value: str, option: str) -> date:
    """A YYYY-MM-DD option value, or one clear error line naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"not a date: {value!r}", where=option, rule="YYYY-MM-DD") from None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Everything written to the standard output in the block goes to the standard error: file
    descriptor 1 itself, so Airflow's and dbt's loggers (which hold the stream they were set up
    with) and child processes too. The verb's own result then has stdout to itself (``--json``
    prints one JSON object there, whatever ran before)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def output_to_log(path: Path) -> Iterator[Console]:
    """Everything written to the standard output and error in the block (file descriptors 1 and
    2: Airflow's, dbt's and GX's loggers, child processes) goes to the log file ``path``; the
    console yielded still writes to the terminal, for the verb's own lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield Console(file=terminal, highlight=False, force_terminal=console.is_terminal)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log):
            os.close(fd)
        terminal.close()


def log_path(settings, verb: str) -> Path:
    """PORTRAIT_HOME/logs/<verb>/<UTC time>.log: where a verb's own run writes the logs of what
    it runs."""
    from datetime import UTC, datetime

    return settings.logs_dir / verb / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"


def emit(payload: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        human(payload)
