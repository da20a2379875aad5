"""Airflow DAGs made from the chain's declaration (portrait.orchestration.chain): one task per
step, each calling its step function with its upstream steps' results (XComs) and the run's
parameters. Importing this module is cheap; the steps' own imports happen in the tasks."""

from __future__ import annotations

import functools
import logging
import operator
from typing import Any

from airflow.sdk import DAG, Param, task

from portrait.orchestration import assets
from portrait.orchestration.chain import PIPELINES, Pipeline, Step, StepContext, function
from portrait.orchestration.defaults import DEFAULT_ARGS

log = logging.getLogger("portrait.orchestration")


def _schedule(pipeline: Pipeline):
    """A cron string becomes a trigger timetable (no data interval: the steps' dates come from
    the data, never from the run) that runs at once when first unpaused only if asked to; assets
    stay as they are."""
    if not isinstance(pipeline.schedule, str):
        return functools.reduce(operator.or_, (getattr(assets, n) for n in pipeline.schedule))
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(
        pipeline.schedule, timezone="UTC", run_immediately=pipeline.run_immediately
    )


def _materialised(value: Any) -> Any:
    """A mapped step's results as a list (index access: iterating a lazy XCom sequence probes
    past its end and logs an error)."""
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return [value[i] for i in range(len(value))]


def _call(step: Step, inputs: dict, params: dict, item: Any, outlet_events: Any) -> Any:
    from airflow.sdk.exceptions import AirflowSkipException

    inputs = {name: _materialised(value) for name, value in inputs.items()}
    result = function(step)(StepContext(inputs, dict(params or {}), item, log.info))
    if step.skip_when_empty and not result.get(step.skip_when_empty):
        log.info("nothing new: %s", result)
        raise AirflowSkipException(f"no {step.skip_when_empty}: {result}")
    if step.alias is not None:
        from airflow.sdk import Asset

        for uri in result.get("asset_uris", []):
            outlet_events[getattr(assets, step.alias)].add(Asset(uri=uri))
    return result


def _task(step: Step):
    options: dict[str, Any] = {
        "task_id": step.task_id,
        "outlets": [getattr(assets, n) for n in step.outlets],
    }
    if step.trigger_rule != "all_success":
        options["trigger_rule"] = step.trigger_rule
    if step.max_active_tis_per_dagrun:
        options["max_active_tis_per_dagrun"] = step.max_active_tis_per_dagrun

    @task(**options)
    def run(inputs: dict, item: Any = None, params=None, outlet_events=None) -> Any:
        return _call(step, inputs, params, item, outlet_events)

    run.__doc__ = function(step).__doc__
    return run


def _params(pipeline: Pipeline) -> dict[str, Param]:
    return {
        name: Param(
            default, type="boolean" if isinstance(default, bool) else "string", description=help_
        )
        for name, (default, help_) in pipeline.params.items()
    }


def make_dag(dag_id: str, doc: str | None) -> DAG:
    """The DAG of this pipeline: its schedule, its steps as tasks, in their declared order."""
    pipeline = PIPELINES[dag_id]
    # no start date: nothing to catch up, and a run's dates never refuse an old extract
    with DAG(
        dag_id,
        schedule=_schedule(pipeline),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=list(pipeline.tags),
        doc_md=doc,
        params=_params(pipeline),
    ) as dag:
        outputs: dict[str, Any] = {}
        for step in pipeline.steps:
            inputs = {name: outputs[name] for name in step.after if name != step.mapped_over}
            operator = _task(step)
            if step.mapped_over:
                outputs[step.task_id] = operator.partial(inputs=inputs).expand(
                    item=outputs[step.mapped_over]
                )
            else:
                outputs[step.task_id] = operator(inputs=inputs)
    return dag
