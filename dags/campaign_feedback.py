"""Closes the marketing loop once new marts are published: campaign outcomes that arrived since
the response champion was trained are scored and evaluated (ml.model_monitoring); a champion that
no longer passes its floor is flagged for retraining. The outcomes themselves reach
marts.campaign_performance through the warehouse build and become labels at the next training.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from portrait.orchestration import assets
from portrait.orchestration.defaults import DEFAULT_ARGS


@dag(
    schedule=[assets.SCORED_MARTS],
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "marketing", "portrait"],
    doc_md=__doc__,
)
def campaign_feedback():
    @task
    def evaluate_outcomes() -> dict:
        from portrait.orchestration.tasks import campaign_feedback as run

        return run()

    evaluate_outcomes()


campaign_feedback()
