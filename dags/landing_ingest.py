"""Loads one landing delivery into raw (typed, batch-stamped, bad rows to quarantine).

The batch date is the run's logical date, so a re-run of the same day replaces that batch.
Params: `landing_dir` (default PORTRAIT_HOME/landing/synthetic) and `source`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from portrait.orchestration import assets
from portrait.orchestration.defaults import DEFAULT_ARGS


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(
        1990, 1, 1, tz="UTC"
    ),  # historical extracts (e.g. 1990s) must run too
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["landing", "portrait"],
    doc_md=__doc__,
    params={
        "landing_dir": Param(
            "", type="string", description="Landing folder (empty: PORTRAIT_HOME/landing/synthetic)"
        ),
        "source": Param("synthetic", enum=["synthetic"], description="Source adapter"),
    },
)
def landing_ingest():
    @task(outlets=[assets.RAW_BATCH])
    def ingest(params=None, ds=None) -> dict:
        from portrait.config import get_settings
        from portrait.orchestration.tasks import ingest_batch

        folder = params["landing_dir"] or str(get_settings().home / "landing" / "synthetic")
        return ingest_batch(folder, params["source"], ds)

    ingest()


landing_ingest()
