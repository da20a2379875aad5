"""`portrait run [--date D]`: the daily pipeline, executed by Airflow itself."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, parse_date, stdout_to_stderr


def run(
    when: str | None = typer.Option(
        None,
        "--date",
        help="Logical date = batch date (default: the landing's own date, else today).",
    ),
    landing_dir: str | None = typer.Option(
        None, "--landing", help="Landing folder (default: PORTRAIT_HOME/landing/synthetic)."
    ),
    train: bool = typer.Option(
        False, "--train", help="Also run the (weekly) ml_training DAG before scoring."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the daily DAGs through Airflow (ingest, warehouse, scoring, feedback); print each task."""
    from pathlib import Path

    from portrait.config import get_settings
    from portrait.ingest.adapters.contract_folder import default_batch_date
    from portrait.orchestration.runner import DAILY_CHAIN, WITH_TRAINING, run_daily

    settings = get_settings()
    warehouse.ensure_started(settings)
    folder = Path(landing_dir) if landing_dir else settings.home / "landing" / "synthetic"
    logical = (
        parse_date(when, "--date")
        if when
        else (default_batch_date(folder) or datetime.now(UTC).date())
    )
    # Airflow logs every task at length: to stderr, so that stdout holds the result alone
    with stdout_to_stderr():
        report = run_daily(logical_date=logical, landing_dir=str(folder), settings=settings,
                           dag_ids=WITH_TRAINING if train else DAILY_CHAIN)  # fmt: skip

    def human(p: dict) -> None:
        for t in p["tasks"]:
            mark = {"success": "[green]✓[/]", "skipped": "[dim]-[/]"}.get(t["state"], "[red]✗[/]")
            console.print(
                f"{mark} {t['dag_id']:<18} {t['task_id']:<46} {t['state']:<10} {t['seconds']:>7.1f}s"
            )
        console.print(f"Daily run for {p['logical_date']} succeeded in {p['seconds']:.1f}s "
                      "(see `portrait airflow -- dags list-runs warehouse_build`)")  # fmt: skip

    emit(report.as_dict(), as_json, human)
