"""Trains the models weekly on point-in-time features from the published warehouse.

Each model is trained, evaluated on the later holdout, logged and registered in MLflow as
`challenger`, and promoted to `champion` only by the promotion rules (portrait.ml.promote).
Campaign outcomes that arrived since the last training are new labels (the closed loop).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from portrait.orchestration import assets
from portrait.orchestration.defaults import DEFAULT_ARGS

MODELS = ("response_propensity", "churn_risk", "customer_segmentation")


@dag(
    schedule="@weekly",
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["ml", "portrait"],
    doc_md=__doc__,
)
def ml_training():
    @task(outlets=[assets.MODELS], max_active_tis_per_dagrun=1)
    def train(name: str) -> dict:
        from portrait.orchestration.tasks import train_model

        return train_model(name)

    train.expand(name=list(MODELS))


ml_training()
