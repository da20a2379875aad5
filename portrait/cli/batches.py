"""`portrait batches list | drop`: the landing batches as raw holds them, and taking one back."""

from __future__ import annotations

from dataclasses import asdict

import typer

from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings

app = typer.Typer(help="The landing batches: list them, drop one.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = JsonOption) -> None:
    """Every batch: date, source, status, rows loaded and quarantined, published or not."""
    from portrait.ingest.batches import listing

    rows = [asdict(r) for r in listing(get_settings())]

    def human(p: dict) -> None:
        if not p["batches"]:
            console.print("No batches yet: `portrait ingest FOLDER` loads one.")
            return
        console.print(f"{'batch':<28} {'date':<10} {'source':<10} {'status':<30} {'loaded':>10} "
                      f"{'quarantined':>11}  published")  # fmt: skip
        for b in p["batches"]:
            rows = "-" if b["rows_loaded"] is None else f"{b['rows_loaded']:,}"
            bad = "-" if b["rows_quarantined"] is None else f"{b['rows_quarantined']:,}"
            console.print(f"{b['batch_id']:<28} {b['batch_date']:<10} {b['source']:<10} {b['status']:<30} "
                          f"{rows:>10} {bad:>11}  {'yes' if b['published'] else 'no'}", markup=False)  # fmt: skip

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

    result = run(get_settings(), batch_id, wait=wait)

    def human(p: dict) -> None:
        console.print(f"Dropped {p['batch_id']}: {len(p['tables'])} tables, "
                      f"{p['quarantined_rows_removed']:,} quarantined rows; the next build rebuilds "
                      "what it touched.", markup=False)  # fmt: skip

    emit(result, as_json, human)
