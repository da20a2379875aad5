"""`portrait run [--date D]`: the daily pipeline, executed by Airflow itself."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, parse_date


def run(
    when: str | None = typer.Option(
        None,
        "--date",
        help="Logical date = batch date (default: the landing's own date, else today).",
    ),
    landing_dir: str | None = typer.Option(
        None, "--landing", help="Landing folder (default: PORTRAIT_HOME/landing/synthetic)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run landing_ingest then warehouse_build through Airflow; print each task's state and time."""
    from pathlib import Path

    from portrait.config import get_settings
    from portrait.ingest.adapters.contract_folder import default_batch_date
    from portrait.orchestration.runner import run_daily

    settings = get_settings()
    warehouse.ensure_started(settings)
    folder = Path(landing_dir) if landing_dir else settings.home / "landing" / "synthetic"
    logical = (
        parse_date(when, "--date")
        if when
        else (default_batch_date(folder) or datetime.now(UTC).date())
    )
    report = run_daily(logical_date=logical, landing_dir=str(folder), settings=settings)

    def human(p: dict) -> None:
        for t in p["tasks"]:
            mark = "[green]✓[/]" if t["state"] == "success" else "[red]✗[/]"
            console.print(
                f"{mark} {t['dag_id']:<16} {t['task_id']:<48} {t['state']:<10} {t['seconds']:>7.1f}s"
            )
        console.print(f"Daily run for {p['logical_date']} succeeded in {p['seconds']:.1f}s "
                      "(see `portrait airflow -- dags list-runs warehouse_build`)")  # fmt: skip

    emit(report.as_dict(), as_json, human)
