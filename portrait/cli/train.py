"""`portrait train [--model NAME]`: train, evaluate, register and (by the rules) promote."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit


def train(
    model: list[str] | None = typer.Option(
        None,
        "--model",
        help="Model to train (repeatable; default: the scheduled ones; contact_response and "
        "loan_default only when named).",
    ),
    family: str | None = typer.Option(
        None,
        "--family",
        help="Fit this classifier family only (lightgbm or logistic), without "
        "the validation that picks one.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Train models on point-in-time features; log to MLflow; champion only by the promotion rules."""
    from portrait.ml import models
    from portrait.ml.train import train as run

    names = [models.get(name).name for name in model] if model else models.names()
    warehouse.ensure_started()
    log = (lambda _line: None) if as_json else (lambda line: console.print(f"  {line}"))
    results = [run(name, family=family, log=log).as_dict() for name in names]

    def human(p: dict) -> None:
        for r in p["models"]:
            shown = {
                k: v
                for k, v in r["metrics"].items()
                if k
                in (
                    "auc",
                    "random_split_auc",
                    "pr_auc",
                    "lift_top_decile",
                    "brier",
                    "silhouette",
                    "smallest_cluster_share",
                )
            }
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in shown.items())
            console.print(
                f"{r['model_name']} v{r['version']} ({r['rows_train']:,} rows, {r['seconds']:.0f}s): {metrics}"
            )
            console.print(f"  {r['decision']}")

    emit({"models": results}, as_json, human)
