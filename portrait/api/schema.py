"""The `api` schema: client keys, the durable event outbox, and the state the worker keeps since
the last build (running counters per customer, triggers raised online)."""

from __future__ import annotations

import psycopg

CHANNEL = "portrait_events"  # NOTIFY channel: an event was committed to the outbox

DDL = """
create schema if not exists api;
create table if not exists api.keys (
    key_id text primary key,
    client text not null,
    role text not null check (role in ('admin', 'rm', 'channel')),
    secret_sha256 text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
create table if not exists api.event_outbox (
    event_id text primary key,
    kind text not null,
    customer_id text not null,
    occurred_at timestamptz not null,
    payload jsonb not null,
    client text not null,
    received_at timestamptz not null default clock_timestamp(),
    applied_at timestamptz
);
create index if not exists event_outbox_pending on api.event_outbox (received_at) where applied_at is null;
create table if not exists api.customer_state (
    customer_id text primary key,
    since_build text not null,
    inflow_amount numeric(18, 2) not null default 0,
    outflow_amount numeric(18, 2) not null default 0,
    transaction_count integer not null default 0,
    salary_count integer not null default 0,
    product_views jsonb not null default '{}',
    last_event_at timestamptz,
    updated_at timestamptz not null default clock_timestamp()
);
create table if not exists api.online_triggers (
    event_id text not null references api.event_outbox (event_id),
    customer_id text not null,
    trigger_type text not null,
    reason text not null,
    metric_value numeric(18, 4),
    since_build text not null,
    detected_at timestamptz not null default clock_timestamp(),
    primary key (event_id, trigger_type)
);
create index if not exists online_triggers_customer on api.online_triggers (customer_id);
"""


def ensure(conn: psycopg.Connection) -> None:
    """Create the schema and its tables (idempotent; one advisory lock so concurrent starts agree)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('portrait api schema'))")
        conn.execute(DDL)
