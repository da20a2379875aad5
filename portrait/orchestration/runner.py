"""`portrait run`: the daily chain executed by Airflow itself (``dag.test()``), in dependency order.

Runs are recorded in Airflow's metadata database (see `portrait airflow -- dags list-runs`).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date

from portrait.config import Settings, get_settings
from portrait.errors import PortraitError

DAILY_CHAIN = ("landing_ingest", "warehouse_build", "customer_scoring", "campaign_feedback")
# the weekly training slots in before scoring when asked for (`portrait run --train`, the demo)
WITH_TRAINING = (
    "landing_ingest",
    "warehouse_build",
    "ml_training",
    "customer_scoring",
    "campaign_feedback",
)


class RunFailed(PortraitError):
    exit_code = 7


@dataclass
class TaskOutcome:
    dag_id: str
    task_id: str
    state: str
    seconds: float


@dataclass
class RunReport:
    logical_date: str
    success: bool
    seconds: float
    tasks: list[TaskOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def prepare_environment(settings: Settings) -> None:
    """Airflow reads its configuration at import: set it (and dbt's connection) before importing."""
    from portrait.build import dbt_env
    from portrait.orchestration.env import airflow_env, prepare_airflow_home

    env = airflow_env(settings)
    os.environ.update(env)
    prepare_airflow_home(settings, env)
    os.environ.update(dbt_env(settings))


def run_daily(*, logical_date: date, landing_dir: str | None = None, settings: Settings | None = None,
              dag_ids: tuple[str, ...] = DAILY_CHAIN) -> RunReport:  # fmt: skip
    settings = settings or get_settings()
    began = time.perf_counter()
    prepare_environment(settings)
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.dags_dir))
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise RunFailed(
            f"a DAG does not import: {str(error).strip().splitlines()[-1]}",
            where=path,
            rule="DAG integrity",
        )
    report = RunReport(logical_date=logical_date.isoformat(), success=True, seconds=0.0)
    when = pendulum.datetime(logical_date.year, logical_date.month, logical_date.day, tz="UTC")
    for dag_id in dag_ids:
        dag = bag.get_dag(dag_id)
        if dag is None:
            raise RunFailed(
                f"DAG {dag_id} not found", where=str(settings.dags_dir), rule="daily chain"
            )
        conf = (
            {"landing_dir": landing_dir} if (dag_id == "landing_ingest" and landing_dir) else None
        )
        run = dag.test(logical_date=when, run_conf=conf)
        for ti in sorted(run.get_task_instances(), key=lambda t: (t.start_date or when, t.task_id)):
            seconds = (
                (ti.end_date - ti.start_date).total_seconds()
                if ti.start_date and ti.end_date
                else 0.0
            )
            task_id = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            report.tasks.append(TaskOutcome(dag_id, task_id, str(ti.state), round(seconds, 2)))
        if not any(t.dag_id == dag_id for t in report.tasks):
            raise RunFailed(f"DAG {dag_id} ran no task for {logical_date}", where=dag_id,
                            rule="the logical date must not lie before the DAG's start_date")  # fmt: skip
        if str(run.state) != "success":
            report.success = False
            failed = [
                t
                for t in report.tasks
                if t.dag_id == dag_id and t.state in {"failed", "upstream_failed"}
            ]
            name = failed[0].task_id if failed else "?"
            raise RunFailed(f"DAG {dag_id} failed at task {name}", where=f"run of {logical_date}",
                            rule="see `portrait airflow -- tasks states-for-dag-run` and the task log")  # fmt: skip
    report.seconds = round(time.perf_counter() - began, 2)
    return report
