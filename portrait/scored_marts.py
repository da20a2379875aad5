"""After scoring: the marketing marts rebuilt from the scores and published together."""

from __future__ import annotations

from portrait import warehouse
from portrait.config import Settings, get_settings
from portrait.dbt_runner import (
    PUBLISHED_SCHEMA,
    BuildFailed,
    BuildReport,
    build_variables,
    raise_for_failed_nodes,
    run_dbt,
)

SCORES_SCHEMA = "marts_scores"


SCORED_SELECTION = "stg_ml__customer_scores tag:scores"


def publish_scored_marts(settings: Settings | None = None) -> BuildReport:
    """After scoring: rebuild the marts tagged ``scores`` (next best offer, target list, segments)
    in a side schema against the published marts, test them, and swap them into ``marts`` in one
    transaction. A failed model or test publishes nothing.
    """
    from portrait.ml.schema import ensure_tables as ensure_ml_tables

    settings = settings or get_settings()
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        if (
            conn.execute(
                "select to_regclass(%s)", (f"{PUBLISHED_SCHEMA}.customer_portrait",)
            ).fetchone()[0]
            is None
        ):
            raise BuildFailed(
                "no published marts to add scores to",
                where=f"schema {PUBLISHED_SCHEMA}",
                rule="run the warehouse build (`portrait run` / `portrait build`) first",
            )
        ensure_ml_tables(conn)
        # fresh statistics before dbt joins the scores: planned blind right after scoring wrote
        # them, the marketing marts' joins ran for minutes at 100k customers
        conn.execute("analyze ml.customer_scores")
        conn.execute(f"drop schema if exists {SCORES_SCHEMA} cascade")
        conn.execute(f"create schema {SCORES_SCHEMA}")
    variables = build_variables(schema=PUBLISHED_SCHEMA) | {"scores_schema": SCORES_SCHEMA}
    report = run_dbt(
        ["build", "--select", SCORED_SELECTION], settings=settings, variables=variables
    )
    raise_for_failed_nodes(report, settings)
    from portrait.expectations import gates as dq
    from portrait.expectations.suites.marts import score_suites

    gate = dq.run_gate("marts", score_suites(SCORES_SCHEMA), settings=settings)
    dq.raise_if_failed(gate)
    report.gates = [gate.summary()]
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = %s order by 1", (SCORES_SCHEMA,)
            ).fetchall()
        ]
        for table in tables:
            conn.execute(f"drop table if exists {PUBLISHED_SCHEMA}.{table}")
            conn.execute(f"alter table {SCORES_SCHEMA}.{table} set schema {PUBLISHED_SCHEMA}")
            conn.execute(f"grant select on {PUBLISHED_SCHEMA}.{table} to {warehouse.BI_ROLE}")
        conn.execute(f"drop schema {SCORES_SCHEMA} cascade")
        conn.commit()
    report.published = True
    return report
