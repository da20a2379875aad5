"""`portrait db start | stop | status | url`: the warehouse server."""

from __future__ import annotations

import time

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings

app = typer.Typer(
    help="The warehouse server (embedded PostgreSQL, or PORTRAIT_DATABASE_URL).",
    no_args_is_help=True,
)


def _print_status(payload: dict) -> None:
    state = "[green]running[/]" if payload["running"] else "[red]stopped[/]"
    console.print(f"PostgreSQL ({payload['mode']}): {state}")
    for key in ("host", "port", "pid", "version", "data_dir", "url"):
        if payload.get(key) is not None:
            console.print(f"  {key:<8} {payload[key]}")


@app.command()
def start(as_json: bool = JsonOption) -> None:
    """Start the embedded server (idempotent) and bootstrap schemas and roles."""
    began = time.perf_counter()
    started = warehouse.ensure_started()
    payload = warehouse.status().as_dict() | {
        "started_now": started,
        "seconds": round(time.perf_counter() - began, 3),
        "schemas": list(warehouse.SCHEMAS),
    }

    def human(p: dict) -> None:
        verb = "started" if p["started_now"] else "already running"
        console.print(
            f"Warehouse {verb} in {p['seconds']:.1f}s; schemas: {', '.join(p['schemas'])}"
        )
        _print_status(p)

    emit(payload, as_json, human)


@app.command()
def stop(as_json: bool = JsonOption) -> None:
    """Stop the embedded server (fast shutdown: open sessions are rolled back)."""
    was_running = warehouse.stop()
    emit(
        {"stopped": was_running},
        as_json,
        lambda p: console.print("Stopped." if p["stopped"] else "Not running."),
    )


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """Whether the server runs, where, and which version."""
    emit(warehouse.status().as_dict(), as_json, _print_status)


@app.command()
def url(
    role: str = typer.Option("owner", "--role", help="owner (pipeline) or bi (read-only)."),
    as_json: bool = JsonOption,
) -> None:
    """Print a libpq URL (with password: treat the output as a secret)."""
    settings = get_settings()
    if role not in {"owner", "bi"}:
        raise typer.BadParameter("--role must be 'owner' or 'bi'")
    value = warehouse.bi_url(settings) if role == "bi" else warehouse.owner_url(settings)
    emit({"role": role, "url": value}, as_json, lambda p: typer.echo(p["url"]))
