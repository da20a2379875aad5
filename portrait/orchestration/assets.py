"""Assets that chain the DAGs (data-aware scheduling). Cheap to import."""

from __future__ import annotations

from airflow.sdk import Asset

# A landing batch loaded into raw and recorded in dq.ingest_batches.
RAW_BATCH = Asset(name="portrait_raw_batch", uri="portrait://warehouse/raw/batch")
# The marts published by Write-Audit-Publish (schema marts).
PUBLISHED_MARTS = Asset(name="portrait_published_marts", uri="portrait://warehouse/marts")
