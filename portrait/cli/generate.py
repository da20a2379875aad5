"""`portrait generate`: a synthetic bank as landing files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from portrait.cli.output import JsonOption, console, emit, parse_date
from portrait.errors import UsageError


def generate(
    customers: int = typer.Option(10_000, "--customers", min=20, help="Number of customers."),
    months: int = typer.Option(12, "--months", min=1, max=120, help="Months of history."),
    seed: int = typer.Option(42, "--seed", help="Random seed: same seed, same files."),
    out: Path = typer.Option(..., "--out", help="Landing folder to write."),
    start_date: str = typer.Option(
        "2025-01-01", "--start-date", help="First day of the history (YYYY-MM-DD)."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    as_json: bool = JsonOption,
) -> None:
    """Write a realistic, referentially consistent bank as one file per contract table."""
    from portrait.synth.generator import generate as run

    start = parse_date(start_date, "--start-date")
    if fmt not in {"csv", "parquet"}:
        raise UsageError(f"unknown format {fmt!r}", where="--format", rule="csv or parquet")
    with Progress(
        TextColumn("generating {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("months", total=months)
        result = run(
            out,
            customers=customers,
            months=months,
            seed=seed,
            start_date=start,
            fmt=fmt,
            progress=lambda _what, done, _total: bar.update(task, completed=done),
        )

    def human(p: dict) -> None:
        console.print(
            f"Wrote {len(p['files'])} files to {p['out_dir']} ({p['start_date']} .. {p['end_date']}) "
            f"in {p['seconds']:.1f}s, peak memory {p['peak_memory_mb']:.0f} MB"
        )
        for table, rows in p["rows"].items():
            console.print(f"  {table:<22} {rows:>12,}")
        console.print(f"  transactions written per second: {p['transactions_per_second']:,}")

    emit(result.as_dict(), as_json, human)
