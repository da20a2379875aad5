"""`portrait batches list | drop`: the landing batches as raw holds them, and taking one back."""

from __future__ import annotations

from dataclasses import asdict

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings

app = typer.Typer(help="The landing batches: list them, drop one.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = JsonOption) -> None:
    """Every batch: date, source, status, rows loaded and quarantined, published or not."""
    from portrait.ingest.batches import listing

    settings = get_settings()
    warehouse.ensure_started(settings)
    rows = [asdict(r) for r in listing(settings)]

    def human(p: dict) -> None:
        if not p["batches"]:
            console.print("No batches yet: `portrait ingest FOLDER` loads one.")
            return
        width = max(len("status"), *(len(b["status"]) for b in p["batches"]))
        console.print(
            f"{'batch':<28} {'date':<10} {'source':<18} {'status':<{width}} {'loaded':>10} "
            f"{'quarantined':>11}  published",
            soft_wrap=True,
        )
        for b in p["batches"]:
            rows = "-" if b["rows_loaded"] is None else f"{b['rows_loaded']:,}"
            bad = "-" if b["rows_quarantined"] is None else f"{b['rows_quarantined']:,}"
            console.print(
                f"{b['batch_id']:<28} {b['batch_date']:<10} {b['source']:<18} {b['status']:<{width}} "
                f"{rows:>10} {bad:>11}  {'yes' if b['published'] else 'no'}",
                markup=False,
                soft_wrap=True,
            )

    emit({"batches": rows}, as_json, human)


@app.command()
def drop(
    batch_id: str = typer.Argument(..., help="The batch to remove (see `portrait batches list`)."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for a running build."),
    as_json: bool = JsonOption,
) -> None:
    """Remove a loaded batch from raw (audited); the next build rebuilds what it touched, so the
    marts equal a warehouse that never saw it."""
    from portrait.ingest.batches import drop as run

    settings = get_settings()
    warehouse.ensure_started(settings)
    result = run(settings, batch_id, wait=wait)

    def human(p: dict) -> None:
        console.print(
            f"Dropped {p['batch_id']}: {len(p['tables'])} tables, "
            f"{p['quarantined_rows_removed']:,} quarantined rows; the next build rebuilds "
            "what it touched.",
            markup=False,
        )

    emit(result, as_json, human)
