"""Builds the warehouse once a landing batch has arrived: Write-Audit-Publish.

landing gate (GX) -> dbt build into marts_build (Astronomer Cosmos: local execution, dbt's Python
runner, one build of the project) -> marts gate (GX) -> atomic swap into marts -> SCD2 snapshots
(Cosmos). A failed gate, model or test stops the run; the published marts stay as they were.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from portrait.orchestration import assets, dbt
from portrait.orchestration.defaults import DEFAULT_ARGS


@dag(
    schedule=[assets.RAW_BATCH],
    start_date=pendulum.datetime(
        1990, 1, 1, tz="UTC"
    ),  # historical extracts (e.g. 1990s) must run too
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["warehouse", "portrait"],
    doc_md=__doc__,
)
def warehouse_build():
    @task
    def prepare() -> dict:
        """The build schema; whether the incremental tables must be rebuilt (a rebuild request,
        or unpublished rows of a since-replaced batch) and why."""
        from portrait.orchestration.tasks import prepare_build

        return prepare_build()

    @task
    def landing_gate() -> dict | None:
        from portrait.orchestration.tasks import landing_gate as run

        return run()

    @task
    def marts_gate() -> dict:
        from portrait.orchestration.tasks import marts_gate as run

        return run()

    @task(outlets=[assets.PUBLISHED_MARTS, assets.PUBLISHED_TABLES])
    def publish(landing: dict | None, marts: dict, prepared: dict, *, outlet_events=None) -> dict:
        from airflow.sdk import Asset

        from portrait.orchestration.tasks import publish as run

        result = run(landing, marts, prepared)
        # one asset event per published table (postgres://127.0.0.1:<port>/portrait/marts/...)
        for uri in result["tables"]:
            outlet_events[assets.PUBLISHED_TABLES].add(Asset(uri=uri))
        return result

    prepared = prepare()
    landing = landing_gate()
    dbt_build = dbt.build_operator(
        full_refresh="{{ ti.xcom_pull(task_ids='prepare')['full_refresh'] }}"
    )
    marts = marts_gate()
    prepared >> landing >> dbt_build >> marts
    publish(landing, marts, prepared) >> dbt.snapshot_operator()


warehouse_build()
