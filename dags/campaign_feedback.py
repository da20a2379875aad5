"""Closes the marketing loop once new scores are published: campaign outcomes that arrived since
the response champion was trained are scored and evaluated (ml.model_monitoring); a champion that
no longer passes its floor is flagged for retraining. The outcomes themselves reach
marts.campaign_performance through the warehouse build and become labels at the next training.
"""

from __future__ import annotations

from portrait.orchestration.factory import make_dag

dag = make_dag(
    "campaign_feedback", __doc__
)  # an Airflow DAG made from portrait.orchestration.chain
