"""`portrait scheduler start | stop | status`: Airflow's components in the background."""

from __future__ import annotations

import typer

from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings

app = typer.Typer(
    help="Airflow for real: api-server, scheduler (LocalExecutor), dag-processor, triggerer.",
    no_args_is_help=True,
)


def _print_status(p: dict) -> None:
    state = (
        "[green]healthy[/]"
        if p["healthy"]
        else ("[yellow]degraded[/]" if p["running"] else "[red]stopped[/]")
    )
    console.print(
        f"Airflow: {state}; UI {p['url']} (user {p['user']}, password in {p['password_file']})"
    )
    for c in p["components"]:
        mark = "[green]✓[/]" if c["healthy"] else "[red]✗[/]"
        console.print(f"  {mark} {c['name']:<14} pid {c['pid'] or '-':<8} {c['detail']}")
    if p["dags"]:
        console.print("  DAGs: " + ", ".join(f"{d} ({s})" for d, s in p["dags"].items()))
    console.print(f"  logs: {p['logs']}", soft_wrap=True)


@app.command()
def start(as_json: bool = JsonOption) -> None:
    """Start Airflow's components (idempotent) and wait until they are healthy and the DAGs active."""
    from portrait.orchestration import scheduler

    settings = get_settings()
    with console.status("starting Airflow", spinner="dots") if not as_json else _nothing():
        state = scheduler.start(settings)

    def human(p: dict) -> None:
        console.print(f"Airflow ready in {p['seconds']:.1f}s at {p['url']}")
        if p["password"]:
            console.print(
                f"Airflow UI login: user {p['user']}, password {p['password']} "
                f"(kept in {p['password_file']}; shown once)",
                markup=False,
            )
        _print_status(p)
        console.print(
            f"Move deliveries into {settings.inbox_dir}/<delivery>/: "
            f"landing_ingest looks at {settings.inbox_poll} (cron, UTC).",
            soft_wrap=True,
        )

    emit(state.as_dict(), as_json, human)


@app.command()
def stop(as_json: bool = JsonOption) -> None:
    """Stop every component and its task workers."""
    from portrait.orchestration import scheduler

    stopped = scheduler.stop(get_settings())
    emit(
        {"stopped": stopped},
        as_json,
        lambda p: console.print(
            f"Stopped {', '.join(p['stopped'])}." if p["stopped"] else "Not running."
        ),
    )


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """The UI's address and each component's health."""
    from portrait.orchestration import scheduler

    state = scheduler.status(get_settings())
    emit(state.as_dict(), as_json, _print_status)
    if not state.healthy:
        raise typer.Exit(1)


def _nothing():
    import contextlib

    return contextlib.nullcontext()
