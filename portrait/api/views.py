"""What the API answers, read from the published marts and the worker's online state: one
function per answer, each figure with the time it is as of."""

from __future__ import annotations

import functools

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from portrait import catalogue

# PII classes each role reads unmasked (an indicator's class is its meta.pii in the dbt YAML)
UNMASKED = {"admin": {"none", "quasi", "sensitive", "direct", "contact"}, "rm": {"none"}}


@functools.cache
def indicator_meta() -> dict[str, dict[str, str]]:
    """Each portrait indicator's dimension, unit and PII class (the catalogue's source)."""
    return {
        i["name"]: {
            "dimension": i["meta"]["dimension"],
            "unit": i["meta"]["unit"],
            "pii": i["meta"].get("pii", "none"),
        }
        for i in catalogue.indicators()
    }


def _one(conn: psycopg.Connection, query: str, *params) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def _all(conn: psycopg.Connection, query: str, *params) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


# the last publication: what every answer is as of
PUBLISHED_SQL = "select published_at, as_of_date, build_id from dq.publications order by published_at desc limit 1"


def publication(conn: psycopg.Connection) -> dict | None:
    return _one(conn, PUBLISHED_SQL)


def known(conn: psycopg.Connection, customer_ids: list[str]) -> set[str]:
    rows = _all(
        conn, "select customer_id from marts.dim_customer where customer_id = any(%s)", customer_ids
    )
    return {r["customer_id"] for r in rows}


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)


@functools.cache
def _dimensions_sql(role: str) -> str:
    """The portrait row's indicators grouped by dimension as one JSON expression, written out per
    role once (PII the role may not read is null and flagged masked)."""
    by_dimension: dict[str, list[str]] = {}
    for name, meta in indicator_meta().items():
        masked = meta["pii"] not in UNMASKED[role]
        value = "null" if masked else f"p.{name}"
        by_dimension.setdefault(meta["dimension"], []).append(
            f"json_build_object('name', {_literal(name)}, 'value', {value}, 'unit', "
            f"{_literal(meta['unit'])}, 'masked', {str(masked).lower()})"
        )
    return (
        "json_build_object("
        + ", ".join(
            f"{_literal(d)}, json_build_array({', '.join(items)})"
            for d, items in by_dimension.items()
        )
        + ")"
    )


PORTRAIT_SQL = f"""
select json_build_object(
    'customer_id', %(id)s::text,
    'as_of_date', p.as_of_date,
    'published', (select row_to_json(x) from ({PUBLISHED_SQL}) x),
    'dimensions', {{dimensions}},
    'segment', (select row_to_json(x) from (select segment_code, segment_name, segment_strategy, value_tier, life_stage,
                    ml_cluster_name, as_of_date from marts.customer_segments where customer_id = %(id)s) x),
    'tags', coalesce((select json_agg(x order by x.tag) from (select tag, tag_description, as_of_date
                      from marts.customer_tags where customer_id = %(id)s) x), '[]'),
    'scores', coalesce((select json_agg(x order by x.model_name, x.product_id) from (select model_name, product_id,
                        score, score_band, model_version, scored_as_of_date from marts.customer_scores
                        where customer_id = %(id)s) x), '[]'),
    'triggers', coalesce((select json_agg(x order by x.detected_at desc) from (
                    select trigger_type, reason, metric_value, detected_on::timestamptz as detected_at, 'batch' as source
                    from marts.marketing_triggers where customer_id = %(id)s
                    union all
                    select trigger_type, reason, metric_value, detected_at, 'online'
                    from api.online_triggers where customer_id = %(id)s) x), '[]'),
    'online', (select row_to_json(x) from (select since_build, inflow_amount, outflow_amount, transaction_count,
                   salary_count, product_views, last_event_at, updated_at
               from api.customer_state where customer_id = %(id)s) x)
)::text
from marts.customer_portrait p where p.customer_id = %(id)s
"""


def portrait(conn: psycopg.Connection, customer_id: str, role: str) -> str | None:
    """The customer's portrait answer as a JSON document, or None for an unknown customer: one
    round trip builds it in the server (indicators by dimension, and every related mart's rows)."""
    query = PORTRAIT_SQL.replace("{dimensions}", _dimensions_sql(role))
    row = conn.execute(query, {"id": customer_id}).fetchone()
    return row[0] if row else None


OFFERS_SQL = f"""
with offers as (
    select product_id, channel, propensity, expected_value_amount, expected_net_value_amount, reason_codes,
           contact_group, priority_rank, as_of_date
    from marts.campaign_target_list where customer_id = %(id)s
),
held as (
    select exists (select 1 from offers where contact_group = 'control') as out
)
select json_build_object(
    'customer_id', c.customer_id,
    'published', (select row_to_json(x) from ({PUBLISHED_SQL}) x),
    'held_out', held.out,
    'offers', case when held.out then '[]'::json
                   else coalesce((select json_agg(x order by x.priority_rank) from (
                       select product_id, channel, propensity, expected_value_amount, expected_net_value_amount,
                              reason_codes, priority_rank, as_of_date from offers) x), '[]') end
)::text
from marts.dim_customer c cross join held where c.customer_id = %(id)s
"""


def offers(conn: psycopg.Connection, customer_id: str) -> str | None:
    """The campaign target list's offers for the customer as a JSON document (consent, contact
    caps and cooldowns applied there; a control-group customer gets none, by design), or None
    for an unknown customer."""
    row = conn.execute(OFFERS_SQL, {"id": customer_id}).fetchone()
    return row[0] if row else None


def health(conn: psycopg.Connection) -> dict:
    models = _all(
        conn,
        "select model_name, max(model_version) as model_version, max(scored_as_of_date) as scored_as_of_date "
        "from marts.customer_scores group by model_name order by model_name",
    )
    backlog = _one(
        conn,
        "select count(*) as events, min(received_at) as oldest from api.event_outbox "
        "where applied_at is null",
    )
    return {"database": "ok", "published": publication(conn), "models": models, "backlog": backlog}
