"""The daily chain, declared once: each DAG's steps, their order, what they publish.

The DAG files are made from this table (portrait.orchestration.factory) and the CLI runs the same
steps in the same order in its own process (run_local): `portrait build` is the warehouse_build
DAG's steps, so whatever one path does (the gates beside dbt, the cached parse, staging kept when
unchanged, the as-of date and times recorded in dq.publications) the other does too.
Cheap to import: names and strings only (Airflow reads its configuration when first imported,
and the CLI sets it up before that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from portrait.config import Settings


@dataclass(frozen=True)
class Step:
    """One task: ``call`` (a function of portrait.orchestration.steps) takes a StepContext and
    returns a small JSON-able dict (its XCom)."""

    task_id: str
    call: str
    after: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()  # names in portrait.orchestration.assets
    # a list returned by this upstream step maps the step: one task instance per item
    mapped_over: str | None = None
    # a result whose value under this key is empty skips the task (no asset event downstream)
    skip_when_empty: str | None = None
    # published tables, resolved at run time (the result's "asset_uris"), go to this alias
    alias: str | None = None
    max_active_tis_per_dagrun: int | None = None
    # "none_failed": the step also runs when its upstream was skipped (nothing to map over)
    trigger_rule: str = "all_success"


@dataclass(frozen=True)
class Pipeline:
    dag_id: str
    schedule: str | tuple[str, ...]  # a cron expression, or assets' names (any one triggers)
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    params: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name: (default, help)
    # a cron schedule's first run: at once when the scheduler first sees the DAG, or at the next tick
    run_immediately: bool = False


# the inbox is polled: a delivery moved into it flows on within this period (PORTRAIT_INBOX_POLL)
INBOX_POLL = Settings().inbox_poll

PIPELINES: dict[str, Pipeline] = {
    p.dag_id: p
    for p in (
        Pipeline(
            "landing_ingest", INBOX_POLL, ("landing", "portrait"),
            steps=(Step("ingest", "ingest", outlets=("RAW_BATCH",), skip_when_empty="loaded"),),
            params={"landing_dir": ("", "One delivery folder to load instead of the inbox (empty: the inbox)"),
                    "source": ("", "Its source adapter (empty: from the delivery)"),
                    "batch_date": ("", "Its batch date (empty: the delivery's own)")},
            run_immediately=True,
        ),
        Pipeline(
            "warehouse_build", ("RAW_BATCH",), ("warehouse", "portrait"),
            steps=(Step("build", "build", outlets=("PUBLISHED_MARTS", "PUBLISHED_TABLES"),
                        alias="PUBLISHED_TABLES"),
                   Step("snapshots", "snapshots", after=("build",))),
            params={"as_of": ("", "Business date of the portrait (empty: the latest batch's)"),
                    "full_refresh": (False, "Rebuild the incremental tables from raw")},
        ),
        Pipeline(
            "ml_training", "0 3 * * 0",  # Sundays 03:00 UTC
            ("ml", "portrait"),
            steps=(Step("models", "scheduled_models"),
                   Step("train", "train", after=("models",), mapped_over="models",
                        outlets=("MODELS",), max_active_tis_per_dagrun=1)),
        ),
        Pipeline(
            "customer_scoring", ("PUBLISHED_MARTS", "MODELS"), ("ml", "marketing", "portrait"),
            steps=(Step("features", "features"),
                   Step("slices", "slices", after=("features",)),
                   Step("score", "score", after=("slices",), mapped_over="slices"),
                   Step("drift", "drift", after=("features", "score"), trigger_rule="none_failed"),
                   Step("marketing_marts", "marketing_marts", after=("drift",),
                        outlets=("SCORED_MARTS",))),
        ),
        Pipeline(
            "campaign_feedback", ("SCORED_MARTS",), ("ml", "marketing", "portrait"),
            steps=(Step("evaluate_outcomes", "campaign_feedback"),),
        ),
    )
}  # fmt: skip

# what `portrait run` drives, in order; training slots in before scoring when asked for
DAILY = ("landing_ingest", "warehouse_build", "customer_scoring", "campaign_feedback")
WITH_TRAINING = ("landing_ingest", "warehouse_build", "ml_training", "customer_scoring",
                 "campaign_feedback")  # fmt: skip


@dataclass
class StepContext:
    """What a step gets: its upstream steps' results, the run's parameters, a progress line."""

    inputs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    item: Any = None  # the mapped item, for a mapped step
    say: Callable[[str], None] = lambda _line: None
    settings: Any = None  # portrait.config.Settings; None: from the environment

    @property
    def config(self) -> Any:
        from portrait.config import get_settings

        return self.settings or get_settings()


def function(step: Step) -> Callable[[StepContext], dict]:
    return getattr(import_module("portrait.orchestration.steps"), step.call)


def run_local(
    dag_id: str,
    params: dict[str, Any] | None = None,
    say: Callable[[str], None] = lambda _line: None,
    settings: Any = None,
) -> dict[str, Any]:
    """The pipeline's steps in this process, in their declared order (the CLI's path): each
    step's result by task id; a mapped step's is the list of its items' results. A step skipped
    (skip_when_empty) ends the pipeline, as it skips its downstream tasks in Airflow."""
    pipeline = PIPELINES[dag_id]
    results: dict[str, Any] = {}
    for step in pipeline.steps:
        inputs = {name: results[name] for name in step.after if name != step.mapped_over}
        run = function(step)
        if step.mapped_over:
            results[step.task_id] = [
                run(StepContext(inputs, dict(params or {}), item, say, settings))
                for item in results[step.mapped_over]
            ]
        else:
            results[step.task_id] = run(
                StepContext(inputs, dict(params or {}), None, say, settings)
            )
        if step.skip_when_empty and not results[step.task_id].get(step.skip_when_empty):
            break
    return results
