"""Scores every active customer with each champion once new marts are published, then rebuilds
the marketing marts from the scores (next best offer, campaign target list, ML segments).

Features are materialised once; scoring runs in customer-hash slices (mapped tasks that separate
workers can take); drift (PSI) is measured against training; the scored marts are built in a
side schema, tested, and swapped into marts.
"""

from __future__ import annotations

from portrait.orchestration.factory import make_dag

dag = make_dag("customer_scoring", __doc__)  # an Airflow DAG made from portrait.orchestration.chain
