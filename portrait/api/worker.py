"""The event worker: applies the outbox's events to each customer's online state and raises
the marketing triggers they call for, within seconds.

It takes events in received order under ``FOR UPDATE SKIP LOCKED`` and, in the same transaction,
updates the state, writes the triggers and marks the events applied: a worker killed mid-batch
loses nothing and applies nothing twice. It drains at start and then wakes on each NOTIFY (or
every second), so no event waits on a missed notification. Several workers share the outbox.

The online state counts what happened since the last publication (``since_build``); a new
publication restarts it. The triggers use the batch rules' thresholds (dbt vars in
``dbt_project.yml``): a large inflow and a salary start as in ``marts.marketing_triggers``, and
product interest (repeated views of one product), which only the online path raises.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psycopg
import yaml
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from portrait import warehouse
from portrait.api import schema, views
from portrait.config import Settings, get_settings

BATCH = 500  # events per transaction


@functools.cache
def thresholds(project_dir: str) -> dict[str, float]:
    """The trigger thresholds, read from the dbt project's vars (the batch rules' own source)."""
    variables = yaml.safe_load((Path(project_dir) / "dbt_project.yml").read_text())["vars"]
    return {k: float(v) for k, v in variables.items() if k.startswith("trigger_")}


def _states(conn: psycopg.Connection, customers: list[str], build: str) -> dict[str, dict]:
    """The customers' states since ``build``, locked for this transaction in key order (so two
    workers never deadlock); a state from an older build restarts at zero."""
    conn.execute(
        "insert into api.customer_state (customer_id, since_build) select unnest(%s::text[]), %s "
        "on conflict (customer_id) do nothing",
        (customers, build),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select * from api.customer_state where customer_id = any(%s) order by customer_id for update",
            (customers,),
        ).fetchall()
    for state in rows:
        if state["since_build"] != build:
            state.update(
                since_build=build,
                inflow_amount=Decimal(0),
                outflow_amount=Decimal(0),
                transaction_count=0,
                salary_count=0,
                product_views={},
            )
    return {state["customer_id"]: state for state in rows}


def _histories(conn: psycopg.Connection, events: list[dict]) -> dict[str, list[dict]]:
    """Per customer with a transaction in the batch, the monthly inflows and salary counts of
    the months before its events (latest first): what the batch triggers compare against."""
    moving = [e for e in events if e["kind"] == "transaction"]
    if not moving:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select customer_id, month_start, inflow_amount, salary_count "
            "from intermediate.int_transactions_aggregated_monthly where customer_id = any(%s) "
            "and month_start >= (date_trunc('month', %s::timestamptz) - interval '7 months')::date "
            "order by customer_id, month_start desc",
            (sorted({e["customer_id"] for e in moving}), min(e["occurred_at"] for e in moving)),
        ).fetchall()
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["customer_id"], []).append(row)
    return out


def _before(history: list[dict], occurred_at) -> list[dict]:
    """The (up to) six months before the event's month, latest first."""
    month = occurred_at.date().replace(day=1)
    return [h for h in history if h["month_start"] < month][:6]


def _transaction(
    event: dict, state: dict, history: list[dict], limits: dict
) -> list[tuple[str, str, object]]:
    p = event["payload"]
    amount = Decimal(str(p["amount"]))
    state["transaction_count"] += 1
    if p["direction"] == "debit":
        state["outflow_amount"] += amount
        return []
    state["inflow_amount"] += amount
    months = _before(history, event["occurred_at"])
    raised = []
    average = (
        sum((h["inflow_amount"] for h in months), Decimal(0)) / len(months)
        if months
        else Decimal(0)
    )
    if amount >= Decimal(str(limits["trigger_large_inflow_amount"])) and amount > 3 * average:
        raised.append(
            (
                "large_inflow",
                f"inflow {amount} vs 6-month average monthly inflow {average:.2f}",
                amount,
            )
        )
    if p["category"] == "salary":
        before = [h["salary_count"] for h in months[:2]]
        if state["salary_count"] == 0 and len(before) == 2 and sum(before) == 0:
            raised.append(("salary_start", "salary received after two months without", amount))
        state["salary_count"] += 1
    return raised


def _digital_event(
    event: dict, state: dict, history: list[dict], limits: dict
) -> list[tuple[str, str, object]]:
    product = event["payload"].get("product_id")
    if event["payload"]["event_type"] != "product_view" or not product:
        return []
    views = dict(state["product_views"])
    views[product] = views.get(product, 0) + 1
    state["product_views"] = views
    if views[product] == int(limits["trigger_product_views"]):
        return [
            (
                "product_interest",
                f"viewed {product} {views[product]} times since the last build",
                views[product],
            )
        ]
    return []


APPLY: dict[str, Callable] = {"transaction": _transaction, "digital_event": _digital_event}


def _save(conn: psycopg.Connection, states: dict[str, dict], last_event: dict[str, object]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "update api.customer_state set since_build = %s, inflow_amount = %s, outflow_amount = %s, "
            "transaction_count = %s, salary_count = %s, product_views = %s, "
            "last_event_at = greatest(last_event_at, %s), updated_at = clock_timestamp() where customer_id = %s",
            [
                (
                    s["since_build"],
                    s["inflow_amount"],
                    s["outflow_amount"],
                    s["transaction_count"],
                    s["salary_count"],
                    Jsonb(s["product_views"]),
                    last_event[c],
                    c,
                )
                for c, s in states.items()
            ],
        )


def apply_batch(conn: psycopg.Connection, limits: dict[str, float], size: int = BATCH) -> int:
    """Apply up to ``size`` pending events in one transaction; the number applied. A handful of
    statements per batch, whatever its size."""
    with conn.transaction():
        with conn.cursor(row_factory=dict_row) as cur:
            pending = cur.execute(
                "select event_id, kind, customer_id, occurred_at, payload from api.event_outbox "
                "where applied_at is null order by received_at, event_id limit %s for update skip locked",
                (size,),
            ).fetchall()
        if not pending:
            return 0
        published = views.publication(conn)
        build = published["build_id"] if published else "none"
        states = _states(conn, sorted({e["customer_id"] for e in pending}), build)
        histories = _histories(conn, pending)
        raised, last_event = [], {}
        for event in pending:
            customer = event["customer_id"]
            found = APPLY[event["kind"]](
                event, states[customer], histories.get(customer, []), limits
            )
            raised += [
                (event["event_id"], customer, t, reason, value, build) for t, reason, value in found
            ]
            last_event[customer] = max(
                event["occurred_at"], last_event.get(customer, event["occurred_at"])
            )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into api.online_triggers (event_id, customer_id, trigger_type, reason, metric_value, "
                "since_build) values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
                raised,
            )
        _save(conn, states, last_event)
        conn.execute(
            "update api.event_outbox set applied_at = clock_timestamp() where event_id = any(%s)",
            ([e["event_id"] for e in pending],),
        )
    return len(pending)


def run(
    settings: Settings | None = None, *, stop: threading.Event | None = None, log=print
) -> None:
    """Drain the outbox, then apply events as they arrive until ``stop`` is set."""
    settings = settings or get_settings()
    stop = stop or threading.Event()
    limits = thresholds(str(settings.dbt_project_dir))
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        schema.ensure(conn)
        conn.execute(f"listen {schema.CHANNEL}")
        log("worker: listening for events")
        while not stop.is_set():
            began = time.perf_counter()
            applied = apply_batch(conn, limits)
            if applied:
                log(f"worker: applied {applied} events in {time.perf_counter() - began:.3f} s")
                continue
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                pass
