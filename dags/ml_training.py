"""Trains the scheduled models weekly on point-in-time features from the published warehouse.

Each model is trained, evaluated on the later holdout, logged and registered in MLflow as
`challenger`, and promoted to `champion` only by the promotion rules (portrait.ml.promote).
Campaign outcomes that arrived since the last training are new labels (the closed loop).
"""

from __future__ import annotations

from portrait.orchestration.factory import make_dag

dag = make_dag("ml_training", __doc__)  # an Airflow DAG made from portrait.orchestration.chain
