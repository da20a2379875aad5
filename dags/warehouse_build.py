"""Builds the warehouse once a landing batch has arrived: Write-Audit-Publish.

`build` runs the same function as `portrait build`: the landing gate (GX) beside dbt's build
into marts_build (dbt's Python runner, the cached parse, staging views kept while the project is
unchanged), the marts gate on each mart as dbt finishes it, then the atomic swap into marts,
recorded in dq.publications with its as-of date and build time. `snapshots` records the SCD2
history of what was published. A failed gate, model or test publishes nothing.
"""

from __future__ import annotations

from portrait.orchestration.factory import make_dag

dag = make_dag("warehouse_build", __doc__)  # an Airflow DAG made from portrait.orchestration.chain
