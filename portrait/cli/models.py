"""`portrait models` and `portrait promote NAME VERSION`: the registry as data scientists see it."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit


def models(as_json: bool = JsonOption) -> None:
    """Registered models: champion and challenger versions and their key metrics."""
    from portrait.ml import promote

    rows = promote.listing()

    def human(p: dict) -> None:
        for r in p["models"]:
            console.print(f"{r['model']}  ({r['versions']} version(s))")
            for alias in ("champion", "challenger"):
                metrics = ", ".join(f"{k} {v:.3f}" for k, v in r[f"{alias}_metrics"].items())
                console.print(f"  {alias:<10} {('v' + r[alias]) if r[alias] else '-':<5} {metrics}")
            if r["alias_drift"]:
                console.print(f"  [yellow]![/] {r['alias_drift']}")

    emit({"models": rows}, as_json, human)


def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version to make champion."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit)."),
    as_json: bool = JsonOption,
) -> None:
    """Human override: make VERSION the champion of NAME (audited in ml.promotions)."""
    from portrait.ml.promote import override

    warehouse.ensure_started()
    result = override(name, version, reason=reason)

    def human(p: dict) -> None:
        before = f" (was v{p['previous_champion']})" if p["previous_champion"] else ""
        console.print(
            f"{p['model']}: champion is now v{p['champion']}{before}; audited as {p['by']}: {p['reason']}"
        )

    emit(result, as_json, human)
