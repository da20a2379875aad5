"""Loads new landing deliveries into raw (typed, batch-stamped, bad rows to quarantine).

Every five minutes the inbox (PORTRAIT_HOME/landing/inbox/<delivery>/, or PORTRAIT_INBOX) is
read: each delivery is loaded once, under its own batch date (its delivery.json, the source's
manifest, or a date in its name; never the run's date), and one whose files are already loaded is
not loaded again. Refused deliveries move to <inbox>/_refused/ with the reason. A run that finds
nothing new is skipped and triggers nothing; one that loads a batch triggers warehouse_build.
Params: `landing_dir` (one folder instead of the inbox), `source`, `batch_date`.
"""

from __future__ import annotations

from portrait.orchestration.factory import make_dag

dag = make_dag("landing_ingest", __doc__)  # an Airflow DAG made from portrait.orchestration.chain
