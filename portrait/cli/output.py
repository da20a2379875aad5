"""How every verb reports: a short human summary, or one JSON object with --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = typer.Option(False, "--json", help="Print one machine-readable JSON object.")


def emit(payload: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        human(payload)
