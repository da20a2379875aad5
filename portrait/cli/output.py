"""How every verb reports: a short human summary, or one JSON object with --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import typer
from rich.console import Console

from portrait.errors import PortraitError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = typer.Option(False, "--json", help="Print one machine-readable JSON object.")


def parse_date(value: str, option: str) -> date:
    """A YYYY-MM-DD option value, or one clear error line naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PortraitError(f"not a date: {value!r}", where=option, rule="YYYY-MM-DD") from None


def emit(payload: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        human(payload)
