"""Write-Audit-Publish state: the build schema, the publication's atomic swap and record
(dq.publications), the batches waiting for it, and rebuild requests (dq.rebuild_requests)."""

from __future__ import annotations

import json
from datetime import date

from portrait import warehouse
from portrait.config import Settings
from portrait.dbt_runner import BUILD_SCHEMA, PUBLISHED_SCHEMA
from portrait.ingest.batches import CURRENT, LOAD_CUT, Cut
from portrait.manifest_cache import project_fingerprint

PUBLICATIONS_DDL = """
create table if not exists dq.publications (
    published_at timestamptz not null default now(),
    as_of_date date,
    transactions_through timestamptz,
    build_seconds numeric,
    landing_run_id text,
    marts_run_id text,
    warnings integer
);
comment on table dq.publications is 'Every publication of the marts (Write-Audit-Publish) and its watermark';
alter table dq.publications add column if not exists project_fingerprint text;
comment on column dq.publications.project_fingerprint is
    'sha256 of the dbt project built (files and dbt version): a daily build from the same project keeps the staging views and seeds';
create table if not exists dq.rebuild_requests (
    requested_at timestamptz not null default now(),
    reason text not null
);
comment on table dq.rebuild_requests is
    'Why the next build must rebuild the incremental tables from raw (a build took in batches its landing gate then failed); cleared when a full build is published';
alter table dq.publications add column if not exists batches jsonb;
alter table dq.publications add column if not exists snapshots_at timestamptz;
alter table dq.publications add column if not exists build_id text;
comment on column dq.publications.snapshots_at is
    'When the SCD2 snapshots of this publication were taken (null: failed or not yet; the next build takes them)';
comment on column dq.publications.transactions_through is
    'The build''s cut: it took every batch loaded (ingested_at) at or before it and no other; the published fact views show rows loaded up to it';
comment on column dq.publications.batches is
    'The batch set published: batch id and the load time of the version taken';
"""


def prepare_build_schema(settings: Settings, fresh: bool) -> None:
    """The schema dbt builds into. BI is granted nothing in it: its tables stay out of BI's
    catalogue (information_schema lists the tables a role holds a privilege on) until publish()
    grants them with the swap."""
    from portrait.expectations.gates import ensure_tables

    ensure_tables(settings)
    from portrait.ml.schema import ensure_tables as ensure_ml_tables

    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        ensure_ml_tables(conn)  # dbt reads ml.customer_scores even before the first scoring
        conn.execute(PUBLICATIONS_DDL)
        if fresh:
            conn.execute(f"drop schema if exists {BUILD_SCHEMA} cascade")
        conn.execute(f"create schema if not exists {BUILD_SCHEMA}")


# the load time up to which the published facts reach: batches loaded after it are unpublished
WATERMARK = (
    "(select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications)"
)


def unpublished_batches(settings: Settings) -> list[str]:
    """Batches loaded or dropped after the last publication (what the next build has to take)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.ingest_batches')").fetchone()[0] is None:
            return []
        published = conn.execute("select to_regclass('dq.publications')").fetchone()[0]
        watermark = WATERMARK if published else "'-infinity'::timestamptz"
        return [
            r[0]
            for r in conn.execute(
                f"select distinct batch_id from dq.ingest_batches where status in ('loaded', 'dropped') and ingested_at > {watermark}"
            ).fetchall()
        ]


def landing_gate_inputs(settings: Settings) -> tuple[list[str], dict[str, list[int]], set[str]]:
    """The build's batches loaded after the last publication (up to the build's cut), recent row
    counts per table, tables delivered."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        batches = [
            r[0]
            for r in conn.execute(
                f"select batch_id from ({CURRENT}) c where status = 'loaded' and ingested_at > {WATERMARK} "
                f"and ingested_at <= {LOAD_CUT} order by batch_date, batch_id"
            ).fetchall()
        ]
        recent: dict[str, list[int]] = {}
        delivered: set[str] = set()
        rows = conn.execute(
            "select b.batch_id, f ->> 'table', (f ->> 'rows_loaded')::bigint from dq.ingest_batches b, "
            "jsonb_array_elements(b.files) f where b.status = 'loaded' order by b.started_at desc limit 2000"
        ).fetchall()
        for batch_id, table, count in rows:
            if batch_id in batches:
                delivered.add(table)
            elif len(recent.setdefault(table, [])) < 10:
                recent[table].append(count)
    return batches, recent, delivered


def publish(
    settings: Settings,
    *,
    cut: Cut,
    as_of: date | None,
    seconds: float,
    landing_run: str | None,
    marts_run: str | None,
    warnings: int,
    fingerprint: str | None = None,
    full_refresh: bool = False,
) -> None:
    """Swap the audited build schema in for the published marts, in one transaction; recorded
    with the build's cut and batch set, and the fingerprint of the project built (by default the
    project as it is now). A full build answers the rebuild requests made before it started."""
    fingerprint = fingerprint or project_fingerprint(settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if full_refresh:
            conn.execute(
                "delete from dq.rebuild_requests where requested_at <= now() - %s * interval '1 second'",
                (seconds,),
            )
        had = conn.execute(
            "select 1 from pg_namespace where nspname = %s", (PUBLISHED_SCHEMA,)
        ).fetchone()
        if had:
            conn.execute(f"alter schema {PUBLISHED_SCHEMA} rename to {PUBLISHED_SCHEMA}_previous")
        conn.execute(f"alter schema {BUILD_SCHEMA} rename to {PUBLISHED_SCHEMA}")
        conn.execute(f"grant usage on schema {PUBLISHED_SCHEMA} to {warehouse.BI_ROLE}")
        conn.execute(
            f"alter default privileges in schema {PUBLISHED_SCHEMA} grant select on tables to {warehouse.BI_ROLE}"
        )
        conn.execute(
            f"grant select on all tables in schema {PUBLISHED_SCHEMA} to {warehouse.BI_ROLE}"
        )
        conn.execute(
            "insert into dq.publications (as_of_date, transactions_through, batches, build_seconds, landing_run_id, "
            "marts_run_id, warnings, project_fingerprint, build_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                as_of,
                cut.cut,
                json.dumps(cut.batches),
                round(seconds, 2),
                landing_run,
                marts_run,
                warnings,
                fingerprint,
                cut.build_id,
            ),
        )
        if had:
            conn.execute(f"drop schema {PUBLISHED_SCHEMA}_previous cascade")
        conn.commit()


# The incremental tables fed from raw batches, each with a btree on its rows' load time
# (ingested_at): what increments_to_rebuild looks at
RAW_INCREMENTS = [
    "intermediate.int_transactions_deduplicated",
    "intermediate.int_digital_events_deduplicated",
    "intermediate.int_balances_classified",
]


def snapshots_pending(settings: Settings) -> bool:
    """The latest publication's snapshots were not taken (they failed, or the build was killed
    after publishing)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.publications')").fetchone()[0] is None:
            return False
        latest = conn.execute(
            "select snapshots_at is null from dq.publications order by published_at desc limit 1"
        ).fetchone()
    return bool(latest and latest[0])


def mark_snapshots_taken(settings: Settings) -> None:
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute(
            "update dq.publications set snapshots_at = now() where published_at = "
            "(select max(published_at) from dq.publications)"
        )


def increments_to_rebuild(settings: Settings) -> str | None:
    """Why the incremental tables must be rebuilt from raw before this build, or None.

    A build takes new batches into the incremental tables before its gates pass, and publishes
    them only if they do (the published fact views stop at the watermark). Two things make what
    it took in stale: a rebuild request (a build whose landing gate failed had taken in the batches
    it refused), or a batch taken in, never published, and since replaced by a new delivery of the
    same date (its rows' load time is no longer the latest load of a batch: a key the new delivery
    no longer carries would otherwise stay)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.rebuild_requests')").fetchone()[0] is None:
            return None  # no build has prepared the warehouse yet
        request = conn.execute(
            "select reason from dq.rebuild_requests order by requested_at desc limit 1"
        ).fetchone()
        if request:
            return request[0]
        changed = conn.execute(
            "with published as (select b.key as batch_id, (b.value #>> '{}')::timestamptz as at "
            "from (select batches from dq.publications order by published_at desc limit 1) p, "
            "jsonb_each(coalesce(p.batches, '{}')) b) "
            "select i.batch_id, bool_or(i.status = 'dropped') from dq.ingest_batches i join published p using (batch_id) "
            f"where i.status in ('loaded', 'dropped') and i.ingested_at > p.at and i.ingested_at <= {LOAD_CUT} "
            "group by 1 order by 1 limit 1"
        ).fetchone()
        if changed:
            return f"published batch {changed[0]} was {'dropped' if changed[1] else 'delivered again'} since"
        for table in RAW_INCREMENTS:
            if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
                continue
            stale = conn.execute(
                f"select min(ingested_at) from {table} where ingested_at > {WATERMARK} "
                f"and ingested_at not in (select ingested_at from ({CURRENT}) c where status = 'loaded')"
            ).fetchone()[0]
            if stale is not None:
                return (
                    f"{table} holds unpublished rows loaded at {stale.isoformat()} from a batch "
                    "that has since been replaced"
                )
    return None


def restore_published_views(settings: Settings) -> list[str]:
    """After a failed full refresh: any published view it dropped, created again from the build
    schema's (the names it lists). dbt's full refresh of an incremental table swaps in a new
    table and drops the old one with what depends on it; the post-hook
    repoint_dependent_views moves the published fact views to the new table first, and only a
    view it could not move (the new table lacks a column it reads) is dropped. Their definitions
    read the incremental tables up to the publications' watermark, so the build schema's copies
    show BI what the dropped ones did."""
    restored = []
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        views = conn.execute(
            "select viewname, definition from pg_views where schemaname = %s order by 1",
            (BUILD_SCHEMA,),
        ).fetchall()
        for name, definition in views:
            if (
                conn.execute(
                    "select to_regclass(%s)", (f'{PUBLISHED_SCHEMA}."{name}"',)
                ).fetchone()[0]
                is None
            ):
                conn.execute(f'create view {PUBLISHED_SCHEMA}."{name}" as {definition}')
                conn.execute(f'grant select on {PUBLISHED_SCHEMA}."{name}" to {warehouse.BI_ROLE}')
                restored.append(name)
        conn.commit()
    return restored


def request_rebuild(settings: Settings, reason: str) -> None:
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute("insert into dq.rebuild_requests (reason) values (%s)", (reason,))


# Left out of a daily build when the project has not changed since the last publication and
# their relations exist (see staging_can_be_kept): the staging views and the seeds. Their data tests
# still run (the staging views' on the day's data).
STAGING_MODELS = "models/staging"


KEPT_WHEN_UNCHANGED = ["resource_type:seed", f"resource_type:model,path:{STAGING_MODELS}"]


def staging_can_be_kept(settings: Settings, manifest, fingerprint: str) -> bool:
    """Whether the staging views and seeds can stay as they are: the last publication was built
    from the same project, and each of their relations is still there (a view dropped with its
    table is rebuilt)."""
    if manifest is None:
        return False
    relations = [
        f'"{node.schema}"."{node.alias}"'
        for node in manifest.nodes.values()
        if node.resource_type == "seed"
        or (
            node.resource_type == "model"
            and node.original_file_path.startswith(f"{STAGING_MODELS}/")
        )
    ]
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        last = conn.execute(
            "select project_fingerprint from dq.publications order by published_at desc limit 1"
        ).fetchone()
        if not last or last[0] != fingerprint:
            return False
        present = conn.execute(
            "select count(*) from unnest(%s::text[]) as r(name) where to_regclass(r.name) is not null",
            (relations,),
        ).fetchone()[0]
    return bool(relations) and present == len(relations)


def latest_batch_date(settings: Settings) -> date | None:
    """The latest batch date delivered up to the build's cut (what dbt's as_of_date() macro
    defaults to)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('raw.customers')").fetchone()[0] is None:
            return None
        return conn.execute(
            f"select max(batch_date) from raw.customers where ingested_at <= {LOAD_CUT}"
        ).fetchone()[0]
