"""`portrait dq report`: data-quality summary and the path of the HTML page."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit

app = typer.Typer(help="Data quality: results of the gates, for governance.", no_args_is_help=True)


@app.command()
def report(as_json: bool = JsonOption) -> None:
    """Summarise every gate of the latest build and write the HTML report."""
    from portrait.expectations.reports import write_report

    warehouse.ensure_started()
    summary = write_report()
    payload = {
        "build_id": summary.build_id,
        "status": summary.status,
        "path": str(summary.path),
        "latest_runs": summary.latest_runs,
        "failures": summary.failures[:20],
        "data_docs": [
            str(p) for p in sorted(summary.path.parent.parent.glob("data_docs/*/index.html"))
        ],
    }

    def human(p: dict) -> None:
        if not p["latest_runs"]:
            console.print("No data-quality checks have run yet (they run in `portrait build`).")
            return
        colour = {"OK": "green", "WARN": "yellow", "FAILED": "red"}[p["status"]]
        console.print(f"[{colour}]{p['status']}[/]: latest build {p['build_id'] or '(none)'}")
        for run in p["latest_runs"]:
            state = "[red]FAILED[/]" if run["critical_failures"] else "[green]passed[/]"
            console.print(
                f"{run['stage']:<8} {state} {run['passed']}/{run['checks']} checks, "
                f"{run['warnings']} warnings  ({run['run_id']})"
            )
        for failure in p["failures"][:10]:
            console.print(
                f"  {failure['severity']:<8} {failure['suite']} {failure['column'] or ''}: observed "
                f"{failure['observed'] or failure['unexpected_count']}, allowed {failure['threshold'] or '-'}; "
                f"{failure['next_step']}",
                markup=False,
                soft_wrap=True,
            )
        console.print(f"Report: {p['path']}")
        for docs in p["data_docs"]:
            console.print(f"GX Data Docs: {docs}")

    emit(payload, as_json, human)
