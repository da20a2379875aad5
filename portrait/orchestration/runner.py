"""`portrait run`: the daily chain executed by Airflow itself.

With `portrait scheduler` running, through it: landing_ingest is triggered (no logical date, as
Airflow 3's manual trigger), and the DAGs its assets trigger are followed run by run. Without it,
in this process with ``dag.test()``, DAG by DAG in the same order. Either way the runs are in
Airflow's metadata with their real start and end times. A landing_ingest that finds nothing new
ends the chain (as its skipped task triggers nothing under the scheduler), unless batches wait
for publication (a build that failed): then the build runs again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from portrait.config import Settings, get_settings
from portrait.errors import PortraitError
from portrait.orchestration.chain import DAILY, PIPELINES, WITH_TRAINING

# under the scheduler, training runs after the daily chain; its new champions (asset MODELS)
# trigger scoring and feedback again
SCHEDULED_TRAINING = (*DAILY, "ml_training", "customer_scoring", "campaign_feedback")
# how long a DAG run may take, and how long an asset-triggered run may take to appear
RUN_TIMEOUT = 4 * 3600.0
APPEAR_TIMEOUT = 180.0


class RunFailed(PortraitError):
    exit_code = 7


@dataclass
class TaskOutcome:
    dag_id: str
    task_id: str
    state: str
    seconds: float


@dataclass
class DagOutcome:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    tasks: list[TaskOutcome] = field(default_factory=list)


@dataclass
class RunReport:
    mode: str  # "scheduler" or "in-process"
    success: bool = True
    seconds: float = 0.0
    dags: list[DagOutcome] = field(default_factory=list)
    nothing_new: bool = False  # landing_ingest found no new delivery: nothing ran after it
    log: str | None = None

    @property
    def tasks(self) -> list[TaskOutcome]:
        return [t for d in self.dags for t in d.tasks]

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"tasks": [asdict(t) for t in self.tasks]}


OnDag = Callable[[DagOutcome], None]


def prepare_environment(settings: Settings) -> dict[str, str]:
    """Airflow reads its configuration at import: set it (and dbt's connection) before importing."""
    from portrait.dbt_runner import dbt_env
    from portrait.orchestration.env import airflow_env, prepare_airflow_home

    env = airflow_env(settings)
    os.environ.update(env)
    prepare_airflow_home(settings, env)
    os.environ.update(dbt_env(settings))
    return env


def run_daily(
    *,
    landing_dir: str | None = None,
    batch_date: str | None = None,
    train: bool = False,
    settings: Settings | None = None,
    on_dag: OnDag = lambda _d: None,
    dag_ids: tuple[str, ...] | None = None,
    log: str | None = None,
) -> RunReport:
    """The chain (``dag_ids``, default the daily one, with training if ``train``) through the
    scheduler when it runs, else in this process."""
    from portrait.orchestration import scheduler

    settings = settings or get_settings()
    conf = {k: v for k, v in (("landing_dir", landing_dir), ("batch_date", batch_date)) if v}
    began = time.perf_counter()
    if scheduler.running(settings):
        chain = dag_ids or (SCHEDULED_TRAINING if train else DAILY)
        report = _run_scheduled(settings, chain, conf, on_dag)
    else:
        chain = dag_ids or (WITH_TRAINING if train else DAILY)
        report = _run_in_process(settings, chain, conf, on_dag, log)
    report.seconds = round(time.perf_counter() - began, 2)
    return report


def _seconds(start, end) -> float:
    return round((end - start).total_seconds(), 2) if start and end else 0.0


def _ingested_nothing(outcome: DagOutcome) -> bool:
    return outcome.dag_id == "landing_ingest" and any(
        t.task_id == "ingest" and t.state == "skipped" for t in outcome.tasks
    )


def _nothing_to_build(settings: Settings) -> bool:
    """No batch waits for publication (a build that failed, or never ran, leaves one waiting),
    no rebuild is requested and the latest publication's snapshots were taken."""
    from portrait.publication import increments_to_rebuild, snapshots_pending, unpublished_batches

    return (
        not unpublished_batches(settings)
        and increments_to_rebuild(settings) is None
        and not snapshots_pending(settings)
    )


def _check(report: RunReport, outcome: DagOutcome) -> None:
    """Stop the chain at a failed run, naming its failed task."""
    if outcome.state != "success":
        report.success = False
        failed = [t.task_id for t in outcome.tasks if t.state in {"failed", "upstream_failed"}]
        reason = _failure_reason(report.log, outcome.dag_id)
        raise RunFailed(
            f"DAG {outcome.dag_id} failed at task {failed[0] if failed else '?'}"
            + (f": {reason}" if reason else ""),
            where=f"run {outcome.run_id}" + (f"; log {report.log}" if report.log else ""),
            rule="see the task's log (`portrait airflow -- tasks states-for-dag-run`)",
        )


def _failure_reason(log: str | None, dag_id: str) -> str | None:
    """The reason the last failed task of ``dag_id`` gave (defaults.log_failure's line in the
    run's log file), if the log is a file this process wrote."""
    marker = f"portrait task failed: dag={dag_id} "
    try:
        with open(log or "", errors="replace") as handle:
            lines = [line for line in handle if marker in line]
    except OSError:
        return None
    if not lines:
        return None
    reason = lines[-1].split(" reason=", 1)[-1]
    return reason.split(" [portrait.orchestration]", 1)[0].strip()[:300]


def _run_in_process(
    settings: Settings, chain: tuple[str, ...], conf: dict, on_dag: OnDag, log: str | None
) -> RunReport:
    prepare_environment(settings)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.dags_dir))
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise RunFailed(
            f"a DAG does not import: {str(error).strip().splitlines()[-1]}",
            where=path,
            rule="DAG integrity",
        )
    report = RunReport(mode="in-process", log=log)
    for dag_id in chain:
        dag = bag.get_dag(dag_id)
        if dag is None:
            raise RunFailed(
                f"DAG {dag_id} not found", where=str(settings.dags_dir), rule="daily chain"
            )
        # no logical date given: now, as a manual trigger's run would start (start and end
        # dates are then the run's real ones)
        run = dag.test(run_conf=conf if dag_id == "landing_ingest" and conf else None)
        outcome = DagOutcome(
            dag_id, run.run_id, str(run.state), _seconds(run.start_date, run.end_date)
        )
        for ti in sorted(
            run.get_task_instances(), key=lambda t: (t.start_date or run.start_date, t.task_id)
        ):
            task_id = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            outcome.tasks.append(
                TaskOutcome(dag_id, task_id, str(ti.state), _seconds(ti.start_date, ti.end_date))
            )
        report.dags.append(outcome)
        on_dag(outcome)
        _check(report, outcome)
        if _ingested_nothing(outcome) and _nothing_to_build(settings):
            report.nothing_new = True
            break
    return report


def _run_scheduled(
    settings: Settings, chain: tuple[str, ...], conf: dict, on_dag: OnDag
) -> RunReport:
    from portrait.orchestration.client import AirflowClient

    client = AirflowClient(settings)
    report = RunReport(mode="scheduler", log=str(settings.logs_dir / "airflow"))
    since = None
    for dag_id in chain:
        if isinstance(PIPELINES[dag_id].schedule, str):  # a timed DAG: triggered here
            run_id = client.trigger(dag_id, conf if dag_id == "landing_ingest" else None)[
                "dag_run_id"
            ]
        else:  # an asset-triggered DAG: the run the previous DAG's assets made
            run_id = _appeared(client, dag_id, since)
        run = _finished(client, dag_id, run_id)
        since = run["start_date"]
        outcome = DagOutcome(dag_id, run_id, run["state"], round(run.get("duration") or 0.0, 2))
        for ti in sorted(
            client.task_instances(dag_id, run_id),
            key=lambda t: (t["start_date"] or "", t["task_id"]),
        ):
            task_id = (
                ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            )
            outcome.tasks.append(
                TaskOutcome(dag_id, task_id, str(ti["state"]), round(ti.get("duration") or 0.0, 2))
            )
        report.dags.append(outcome)
        on_dag(outcome)
        _check(report, outcome)
        triggered_nothing = _ingested_nothing(outcome)
        if triggered_nothing and _nothing_to_build(settings):
            report.nothing_new = True
            break
    return report


def _appeared(client, dag_id: str, since: str | None) -> str:
    """The first run of ``dag_id`` queued after ``since`` (an ISO time), once it exists."""
    deadline = time.monotonic() + APPEAR_TIMEOUT
    while time.monotonic() < deadline:
        later = [r for r in client.runs(dag_id) if since is None or (r["queued_at"] or "") >= since]
        if later:
            return min(later, key=lambda r: r["queued_at"])["dag_run_id"]
        time.sleep(1.0)
    raise RunFailed(
        f"DAG {dag_id} was not triggered by its assets within {APPEAR_TIMEOUT:.0f} s",
        where=dag_id,
        rule="is it paused? (`portrait scheduler status`)",
    )


def _finished(client, dag_id: str, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = client.run(dag_id, run_id)
        if run["state"] in {"success", "failed"}:
            return run
        time.sleep(1.0)
    raise RunFailed(
        f"DAG {dag_id} run {run_id} did not finish within {RUN_TIMEOUT:.0f} s",
        where=run_id,
        rule="see the Airflow UI",
    )
