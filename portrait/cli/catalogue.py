"""`portrait catalogue [--out FILE]`: the portrait's indicator catalogue for business users."""

from __future__ import annotations

from pathlib import Path

import typer

from portrait.cli.output import JsonOption, console, emit


def catalogue(
    out: Path = typer.Option(
        Path("docs/indicator-catalogue.md"), "--out", help="Markdown file to write."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write the indicator catalogue (definition, unit, owner, PII per indicator)."""
    from portrait.catalogue import indicators, write

    count = write(out)
    payload = {
        "written_to": str(out),
        "indicators": count,
        "by_dimension": _count_by_dimension(indicators()),
    }
    emit(
        payload,
        as_json,
        lambda p: console.print(f"{p['indicators']} indicators written to {p['written_to']}"),
    )


def _count_by_dimension(items: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item["meta"]["dimension"]] = counts.get(item["meta"]["dimension"], 0) + 1
    return counts
