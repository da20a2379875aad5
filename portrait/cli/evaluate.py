"""`portrait evaluate SOURCE PATH`: a real dataset's model quality, time-ordered, in one command."""

from __future__ import annotations

from pathlib import Path

import typer

from portrait.cli.output import JsonOption, console, emit


def evaluate(
    source: str = typer.Argument(
        ..., help="uci-bank-marketing (contact_response) or berka (loan_default)."
    ),
    path: Path = typer.Argument(
        ..., help="The source's file or folder (e.g. ../shared/data/bank_marketing)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest, build, train on earlier events, score the later 20 % through the scoring path, report.

    UCI: the later 20 % are delivered with their outcome open and scored as prospects; Berka: the
    model's own later holdout. Each model family is measured the same way. Runs in its own
    warehouse under PORTRAIT_HOME/evaluations/SOURCE (MLflow store included); re-running replaces
    the batch and registers new versions.
    """
    from portrait.ml.evaluation import evaluate_source

    log = (lambda _line: None) if as_json else (lambda line: console.print(f"  {line}"))
    result = evaluate_source(source, path, log=log).as_dict()

    def human(p: dict) -> None:
        low, high = p["auc_95"]
        console.print(
            f"{p['source']}: {p['model_name']} v{p['model_version']} ({p['family']}, chosen "
            f"by validation) trained on {p['events']:,} events"
        )
        console.print(
            f"  {p['protocol']}: scored the {p['evaluated_events']:,} events from "
            f"{p['evaluated_from'][:10]} ({p['evaluated_positive_rate']:.1%} positive) through ml.event_scores"
        )
        console.print(
            f"  AUC {p['auc']:.3f} (95% {low:.3f}-{high:.3f}), PR-AUC {p['pr_auc']:.3f}, "
            f"top-decile lift {p['lift_top_decile']:.2f}; baseline {p['goal_auc']:.3f}"
        )
        for family, f in p["families"].items():
            console.print(
                f"  {family} v{f['version']}: validation AUC {f['validation_auc'] or float('nan'):.3f}, "
                f"holdout {f['holdout_auc'] or float('nan'):.3f}, evaluated {f['evaluated_auc']:.3f}"
            )
        console.print(f"  random 5-fold split (ignores time): AUC {p['random_split_auc']:.3f}")
        console.print(f"  MLflow run {p['run_id']} in {p['home']}/mlflow; seconds {p['seconds']}")

    emit(result, as_json, human)
