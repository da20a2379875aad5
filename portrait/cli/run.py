"""`portrait run`: the daily pipeline, executed by Airflow itself (the scheduler, or in-process)."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, log_path, output_to_log, parse_date


def print_dag(out, dag) -> None:
    """One line per task of a finished DAG run: state and time."""
    for t in dag.tasks:
        mark = {"success": "[green]✓[/]", "skipped": "[dim]-[/]"}.get(t.state, "[red]✗[/]")
        out.print(f"{mark} {t.dag_id:<18} {t.task_id:<22} {t.state:<10} {t.seconds:>7.1f}s")


def run(
    when: str | None = typer.Option(
        None, "--date", help="Batch date of the delivery (default: the delivery's own)."
    ),
    landing_dir: str | None = typer.Option(
        None, "--landing", help="One delivery folder to load (default: the landing inbox)."
    ),
    train: bool = typer.Option(False, "--train", help="Also run the (weekly) ml_training DAG."),
    as_json: bool = JsonOption,
) -> None:
    """Run the daily DAGs through Airflow (ingest, warehouse, scoring, feedback); print each task."""
    from portrait.config import get_settings
    from portrait.orchestration.runner import run_daily

    settings = get_settings()
    warehouse.ensure_started(settings)
    batch_date = parse_date(when, "--date").isoformat() if when else None
    log = log_path(settings, "run")
    with output_to_log(log) as out:
        report = run_daily(
            landing_dir=landing_dir,
            batch_date=batch_date,
            train=train,
            settings=settings,
            log=str(log),
            on_dag=(lambda _d: None) if as_json else (lambda d: print_dag(out, d)),
        )

    def human(p: dict) -> None:
        if p["nothing_new"]:
            console.print("No new delivery: nothing to build (`portrait build` rebuilds anyway).")
        console.print(f"Daily run ({p['mode']}) succeeded in {p['seconds']:.1f}s; logs: {p['log']}")

    emit(report.as_dict(), as_json, human)
