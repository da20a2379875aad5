"""What the API answers, read from the published marts and the worker's online state: one
function per answer, each figure with the time it is as of."""

from __future__ import annotations

import functools
from collections import defaultdict

import psycopg
from psycopg.rows import dict_row

from portrait import catalogue

# PII classes each role reads unmasked (an indicator's class is its meta.pii in the dbt YAML)
UNMASKED = {"admin": {"none", "quasi", "sensitive", "direct", "contact"}, "rm": {"none"}}


@functools.cache
def indicator_meta() -> dict[str, dict[str, str]]:
    """Each portrait indicator's dimension, unit, PII class and definition (the catalogue's source)."""
    return {
        i["name"]: {
            "dimension": i["meta"]["dimension"],
            "unit": i["meta"]["unit"],
            "pii": i["meta"].get("pii", "none"),
            "description": i["description"],
        }
        for i in catalogue.indicators()
    }


def _one(conn: psycopg.Connection, query: str, *params) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()


def _all(conn: psycopg.Connection, query: str, *params) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def publication(conn: psycopg.Connection) -> dict | None:
    return _one(
        conn,
        "select published_at, as_of_date, build_id from dq.publications "
        "order by published_at desc limit 1",
    )


def exists(conn: psycopg.Connection, customer_id: str) -> bool:
    return (
        _one(conn, "select 1 as found from marts.dim_customer where customer_id = %s", customer_id)
        is not None
    )


def known(conn: psycopg.Connection, customer_ids: list[str]) -> set[str]:
    rows = _all(
        conn, "select customer_id from marts.dim_customer where customer_id = any(%s)", customer_ids
    )
    return {r["customer_id"] for r in rows}


def _dimensions(row: dict, role: str) -> dict[str, list[dict]]:
    """The portrait's indicators grouped by dimension; PII the role may not read is masked."""
    out: dict[str, list[dict]] = defaultdict(list)
    for name, meta in indicator_meta().items():
        if name not in row:
            continue
        masked = meta["pii"] not in UNMASKED[role]
        out[meta["dimension"]].append(
            {
                "name": name,
                "value": None if masked else row[name],
                "unit": meta["unit"],
                "masked": masked,
            }
        )
    return dict(out)


def portrait(conn: psycopg.Connection, customer_id: str, role: str) -> dict | None:
    row = _one(conn, "select * from marts.customer_portrait where customer_id = %s", customer_id)
    if row is None:
        return None
    segment = _one(
        conn,
        "select segment_code, segment_name, segment_strategy, value_tier, life_stage, "
        "ml_cluster_name, as_of_date from marts.customer_segments where customer_id = %s",
        customer_id,
    )
    return {
        "customer_id": customer_id,
        "as_of_date": row["as_of_date"],
        "published": publication(conn),
        "dimensions": _dimensions(row, role),
        "segment": segment,
        "tags": _all(
            conn,
            "select tag, tag_description, as_of_date from marts.customer_tags "
            "where customer_id = %s order by tag",
            customer_id,
        ),
        "scores": _all(
            conn,
            "select model_name, product_id, score, score_band, model_version, scored_as_of_date "
            "from marts.customer_scores where customer_id = %s order by model_name, product_id",
            customer_id,
        ),
        "triggers": triggers(conn, customer_id),
        "online": online_state(conn, customer_id),
    }


def triggers(conn: psycopg.Connection, customer_id: str) -> list[dict]:
    """Open triggers: the last build's, then those the worker raised since (newest first)."""
    batch = _all(
        conn,
        "select trigger_type, reason, metric_value, detected_on::timestamptz as detected_at, "
        "'batch' as source from marts.marketing_triggers where customer_id = %s",
        customer_id,
    )
    online = _all(
        conn,
        "select trigger_type, reason, metric_value, detected_at, 'online' as source "
        "from api.online_triggers where customer_id = %s",
        customer_id,
    )
    return sorted(batch + online, key=lambda t: t["detected_at"], reverse=True)


def online_state(conn: psycopg.Connection, customer_id: str) -> dict | None:
    return _one(
        conn,
        "select since_build, inflow_amount, outflow_amount, transaction_count, salary_count, "
        "product_views, last_event_at, updated_at from api.customer_state where customer_id = %s",
        customer_id,
    )


def offers(conn: psycopg.Connection, customer_id: str) -> dict:
    """The campaign target list's offers for the customer (consent, contact caps and cooldowns
    applied there); a customer in the control group gets none, by design."""
    rows = _all(
        conn,
        "select product_id, channel, propensity, expected_value_amount, expected_net_value_amount, "
        "reason_codes, contact_group, priority_rank, as_of_date from marts.campaign_target_list "
        "where customer_id = %s order by priority_rank",
        customer_id,
    )
    held_out = any(r["contact_group"] == "control" for r in rows)
    return {
        "customer_id": customer_id,
        "published": publication(conn),
        "held_out": held_out,
        "offers": []
        if held_out
        else [{k: v for k, v in r.items() if k != "contact_group"} for r in rows],
    }


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
