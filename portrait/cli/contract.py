"""`portrait contract [--out FILE]`: the landing contract as a document."""

from __future__ import annotations

from pathlib import Path

import typer

from portrait import files
from portrait.cli.output import JsonOption, console, emit
from portrait.ingest.contract import (
    CONTRACT_VERSION,
    DBT_SOURCES_PATH,
    TABLES,
    render_dbt_sources,
    render_markdown,
)


def contract(
    out: Path | None = typer.Option(None, "--out", help="Write the Markdown document here."),
    dbt_sources: Path | None = typer.Option(
        None, "--dbt-sources", help=f"Write dbt's source YAML here ({DBT_SOURCES_PATH})."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Print (or write) the landing contract and dbt's sources, generated from its single source in code."""
    text = render_markdown()
    if out:
        files.write_text(out, text)
    if dbt_sources:
        files.write_text(dbt_sources, render_dbt_sources())
    payload = {
        "version": CONTRACT_VERSION,
        "written_to": str(out) if out else None,
        "tables": {
            t.name: {
                "required": t.required,
                "key": list(t.key),
                "columns": {
                    c.name: {
                        "type": c.type,
                        "required": c.required,
                        "pii": c.pii,
                        "rules": c.rules(),
                        "description": c.description,
                    }
                    for c in t.columns
                },
            }
            for t in TABLES
        },
    }

    def human(p: dict) -> None:
        if p["written_to"]:
            console.print(f"Landing contract {p['version']} written to {p['written_to']}")
        else:
            typer.echo(text)

    emit(payload, as_json, human)
