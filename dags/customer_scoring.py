"""Scores every active customer with each champion once new marts are published, then rebuilds
the marketing marts from the scores (next best offer, campaign target list, ML segments).

Features are materialised once; scoring runs in customer-hash slices (mapped tasks that separate
workers can take); drift (PSI) is measured against training; the scored marts are built in a
side schema, tested, and swapped into marts.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from portrait.orchestration import assets
from portrait.orchestration.defaults import DEFAULT_ARGS

SLICES = 2


@dag(
    schedule=[assets.PUBLISHED_MARTS],
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "marketing", "portrait"],
    doc_md=__doc__,
)
def customer_scoring():
    @task
    def prepare_features() -> str:
        from portrait.orchestration.tasks import prepare_scoring

        return prepare_scoring()

    @task
    def slices(as_of: str) -> list[dict]:
        from portrait.orchestration.tasks import champions

        return [{"model": m, "as_of": as_of, "slice_index": i, "slices": SLICES}
                for m in champions() for i in range(SLICES)]  # fmt: skip

    @task
    def score(work: dict) -> dict:
        from portrait.orchestration.tasks import score_slice

        return score_slice(**work)

    @task
    def drift(scored: list[dict], as_of: str) -> dict:
        from portrait.orchestration.tasks import measure_drift

        # index access: iterating a lazy XCom sequence probes past its end and logs an error
        return measure_drift(sorted({scored[i]["model"] for i in range(len(scored))}), as_of)

    @task(outlets=[assets.SCORED_MARTS])
    def marketing_marts() -> dict:
        from portrait.orchestration.tasks import publish_scored_marts

        return publish_scored_marts()

    as_of = prepare_features()
    scored = score.expand(work=slices(as_of))
    drift(scored, as_of) >> marketing_marts()


customer_scoring()
