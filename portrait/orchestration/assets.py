"""Assets that chain the DAGs (data-aware scheduling). Cheap to import."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

# A landing batch loaded into raw and recorded in dq.ingest_batches.
RAW_BATCH = Asset(name="portrait_raw_batch", uri="portrait://warehouse/raw/batch")
# The marts published by Write-Audit-Publish (schema marts).
PUBLISHED_MARTS = Asset(name="portrait_published_marts", uri="portrait://warehouse/marts")
# One asset per published mart table or view, resolved at run time by the publish task: a
# downstream DAG (or a BI refresh) can wait for one table, e.g. marts.customer_portrait.
PUBLISHED_TABLES = AssetAlias(name="portrait_published_tables")
# Champion models in the MLflow registry (new versions trained and judged).
MODELS = Asset(name="portrait_models", uri="portrait://mlflow/models")
# ml.customer_scores and the marketing marts built from them (next best offer, target list).
SCORED_MARTS = Asset(name="portrait_scored_marts", uri="portrait://warehouse/marts/scores")
