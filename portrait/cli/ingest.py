"""`portrait ingest DIR --source NAME [--batch-date D]`: load one landing batch."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, parse_date


def ingest(
    path: Path = typer.Argument(..., help="Landing folder (or file, for sources that take one)."),
    source: str = typer.Option(
        "synthetic", "--source", help="synthetic (contract format), uci-bank-marketing, berka."
    ),
    batch_date: str | None = typer.Option(
        None, "--batch-date", help="Business date of the batch (YYYY-MM-DD)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Load landing files into raw (typed, batch-stamped); bad rows go to quarantine."""
    from portrait.ingest.api import ingest as run

    when = parse_date(batch_date, "--batch-date") if batch_date else None
    warehouse.ensure_started()
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        report = run(path, source=source, batch_date=when, progress=progress)

    def human(p: dict) -> None:
        verb = "replaced" if p["replaced"] else "loaded"
        console.print(
            f"Batch {p['batch_id']} {verb}: {p['rows_loaded']:,} rows loaded, "
            f"{p['rows_quarantined']:,} quarantined, in {p['seconds']:.1f}s"
        )
        for f in p["files"]:
            rules = ", ".join(f"{k}={v}" for k, v in sorted(f["quarantined_by_rule"].items()))
            console.print(
                f"  {f['table']:<22} {f['rows_loaded']:>11,} loaded {f['rows_quarantined']:>8,} quarantined"
                f" {f['seconds']:>6.1f}s {rules}"
            )
        for warning in p["warnings"]:
            console.print(f"  [yellow]warning:[/] {warning}")
        if p["rows_quarantined"]:
            console.print("  rejected rows: quarantine.rejected_rows (rule and detail per row)")

    emit(report.as_dict(), as_json, human)
