"""`portrait docs`: dbt's documentation site of the warehouse, one page that opens offline."""

from __future__ import annotations

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit
from portrait.config import get_settings


def docs(as_json: bool = JsonOption) -> None:
    """Write dbt's docs (lineage, models, columns, tests, exposures) for BI and governance."""
    from portrait.dbt_docs import write_docs

    settings = get_settings()
    warehouse.ensure_started(settings)
    result = write_docs(settings)

    def human(p: dict) -> None:
        console.print(
            f"dbt docs: {p['path']} ({p['nodes'].get('model', 0)} models, "
            f"{len(p['exposures'])} exposures; {p['seconds']:.1f}s)",
            soft_wrap=True,
        )

    emit(result, as_json, human)
