"""`portrait score [--model NAME]`: batch scoring with the champion into ml.customer_scores."""

from __future__ import annotations

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, parse_date


def score(
    model: list[str] | None = typer.Option(
        None, "--model", help="Model to score with (repeatable; default: all with a champion)."
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Features as of this date (default: after the last complete month); for event-level "
        "models, score the events from this date.",
    ),
    slice_index: int = typer.Option(0, "--slice", help="Customer-hash slice to score (0-based)."),
    slices: int = typer.Option(1, "--slices", min=1, max=1024, help="Number of slices."),
    marts: bool = typer.Option(
        True,
        "--marts/--no-marts",
        help="Rebuild the marketing marts from the scores (whole runs only).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Score active customers in chunks; re-running the same as-of date replaces the same rows."""
    from portrait.ml import models, promote
    from portrait.ml.score import score as run
    from portrait.ml.score import score_events

    warehouse.ensure_started()
    if model:
        names = [models.get(name).name for name in model]
    else:
        names = [
            r["model"]
            for r in promote.listing()
            if r["champion"] and models.get(r["model"]).grain == "customer"
        ]
    day = parse_date(as_of, "--as-of") if as_of else None
    log = (lambda _line: None) if as_json else (lambda line: console.print(f"  {line}"))
    # event-level models (named with --model) score their events, as of each event
    event_models = [name for name in names if models.get(name).grain == "event"]
    names = [name for name in names if name not in event_models]
    results = [
        run(name, as_of=day, slice_index=slice_index, slices=slices, log=log).as_dict()
        for name in names
    ]
    event_results = [score_events(name, since=day, log=log).as_dict() for name in event_models]
    published = False
    if names and slices == 1 and marts:
        from portrait.scored_marts import publish_scored_marts

        publish_scored_marts()  # next best offer, target list, ML segments from the new scores
        published = True

    def human(p: dict) -> None:
        for r in p["event_models"]:
            shown = ", ".join(
                f"{k} {r['metrics'][k]:.3f}"
                for k in ("auc", "lift_top_decile")
                if k in r["metrics"]
            )
            console.print(
                f"{r['model_name']} v{r['model_version']}: {r['events']:,} events scored "
                f"into ml.event_scores in {r['seconds']:.1f}s"
                + (f" ({shown} where the outcome is known)" if shown else "")
            )
        if not p["models"] and not p["event_models"]:
            console.print("no model has a champion yet: run `portrait train` first")
        for r in p["models"]:
            console.print(
                f"{r['model_name']} v{r['model_version']} as of {r['as_of_date']}: "
                f"{r['customers']:,} customers, {r['rows']:,} scores in {r['seconds']:.1f}s "
                f"({r['setup_seconds']:.1f}s loading the model and features)"
                + (f", {len(r['drift'])} drift warning(s)" if r["drift"] else "")
            )

        if p["marketing_marts_published"]:
            console.print(
                "marts.next_best_offer, campaign_target_list and customer_segments rebuilt and published"
            )

    emit(
        {"models": results, "event_models": event_results, "marketing_marts_published": published},
        as_json,
        human,
    )
