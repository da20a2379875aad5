"""`portrait build`: dbt build of the warehouse and the portrait marts."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, parse_date


def build(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Business date of the portrait (default: latest batch)."
    ),
    select: str | None = typer.Option(
        None, "--select", help="dbt selection, e.g. 'customer_portrait+'."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild incremental models from scratch."
    ),
    wait: float = typer.Option(
        0.0,
        "--wait",
        min=0,
        help="Seconds to wait for a build that is running (default: refuse at once).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run dbt build (models, seeds, snapshots, tests); one clear line names a failure."""
    from portrait.build import build as run

    warehouse.ensure_started()
    # the spinner starts at the build's first progress line: rich animates it from a thread, and
    # the landing gate forks its child process beside dbt only from a single-threaded process
    # (portrait/forked.py), which build() does before its first line
    status = None

    def progress(line: str) -> None:
        nonlocal status
        if status is None:
            status = console.status(f"build: {line}", spinner="dots")
            status.start()
        else:
            status.update(f"build: {line}")

    try:
        report = run(
            as_of=parse_date(as_of, "--as-of") if as_of else None,
            select=select,
            full_refresh=full_refresh,
            progress=None if as_json else progress,
            wait=wait,
        )
    finally:
        if status is not None:
            status.stop()

    def human(p: dict) -> None:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(p["counts"].items()))
        console.print(f"dbt build passed in {p['seconds']:.1f}s: {counts}")
        if p.get("full_refresh_reason"):
            console.print(f"  incremental tables rebuilt from raw: {p['full_refresh_reason']}")
        slow = sorted(p["nodes"], key=lambda n: -n["seconds"])[:5]
        for node in slow:
            console.print(
                f"  {node['resource_type']:<9} {node['name']:<40} {node['seconds']:>6.1f}s"
            )

    emit(report.as_dict(), as_json, human)
