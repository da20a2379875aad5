"""The batch register (dq.ingest_batches): each ingest attempt from start to end, the batches as
raw holds them now, the cut that fixes a build's batch set, and dropping a batch.

An ingest registers its attempt ('running') before it writes a row, and the same transaction that
swaps its partitions into raw marks it 'loaded': raw and the register never disagree. Its rows'
load time (ingested_at) is the database clock at registration, taken under a shared lock that a
build's cut takes exclusively, so that every attempt registered before the cut is seen by it and
every later one has a later load time. The cut is the earliest load time of an ingest still
running (less a microsecond), or the cut's own time: the build takes exactly the batches loaded
at or before it, and a batch that lands during the build is left, whole, for the next one.

An attempt whose process died (killed, its server connection lost) stays 'running' until the next
ingest or build finds its batch's lock free: it is then marked 'abandoned' and its leftover
staging tables are dropped.
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import PortraitError

CUT_LOCK = "portrait batch cut"  # shared by registrations, exclusive for a build's cut
REGISTER_DDL = """
create table if not exists dq.load_cut (
    cut timestamptz not null,
    taken_at timestamptz not null default now(),
    batches jsonb not null
);
alter table dq.load_cut add column if not exists build_id text;
comment on table dq.load_cut is
    'The batch set of the latest build: the batches loaded at or before cut (one row); dbt reads raw up to it';
"""
# the latest build's cut, in SQL (no build yet: no bound)
LOAD_CUT = "(select coalesce(max(cut), 'infinity'::timestamptz) from dq.load_cut)"
# what raw holds now: per batch, its latest load or drop; 'loaded' rows are in raw
CURRENT = """
select distinct on (batch_id) batch_id, batch_date, source, status, ingested_at, rows_loaded,
       rows_quarantined, started_at, finished_at, message, files
from dq.ingest_batches
where status in ('loaded', 'dropped')
order by batch_id, ingested_at desc
"""


class BatchesChanged(PortraitError):
    """A batch of the build's set was replaced or dropped while the build ran."""

    exit_code = 4


class UnknownBatch(PortraitError):
    exit_code = 2


def batch_lock_key(batch_id: str) -> str:
    return f"portrait ingest {batch_id}"


def ensure_tables(conn: psycopg.Connection) -> None:
    conn.execute(REGISTER_DDL)


def _ensure_register(conn: psycopg.Connection) -> None:
    """The register's tables, without touching raw's when they exist (an ALTER of a raw table
    would wait for an ingest reading it)."""
    if conn.execute("select to_regclass('dq.ingest_batches')").fetchone()[0] is None:
        from portrait.ingest.loader import ensure_landing_tables

        ensure_landing_tables(conn)
    ensure_tables(conn)


# -- an ingest attempt ------------------------------------------------------------------------
def register(
    conn: psycopg.Connection,
    *,
    batch_id: str,
    batch_date: date,
    source: str,
    contract_version: str,
    started_at: datetime,
) -> datetime:
    """The attempt as 'running'; returns its rows' load time. The caller holds the batch's lock,
    so an earlier 'running' attempt of the batch is dead: it is marked abandoned first."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", (CUT_LOCK,))
        _abandon(conn, batch_id)
        return conn.execute(
            "insert into dq.ingest_batches (batch_id, batch_date, source, status, contract_version, started_at, ingested_at) "
            "values (%s, %s, %s, 'running', %s, %s, clock_timestamp()) returning ingested_at",
            (batch_id, batch_date, source, contract_version, started_at),
        ).fetchone()[0]


def record(
    conn: psycopg.Connection,
    *,
    batch_id: str,
    started_at: datetime,
    status: str,
    rows_loaded: int,
    rows_quarantined: int,
    files: list[dict],
    message: str | None,
) -> None:
    """The attempt's outcome, in the caller's transaction (a load's: the one that publishes it)."""
    conn.execute(
        "update dq.ingest_batches set status = %s, finished_at = clock_timestamp(), rows_loaded = %s, "
        "rows_quarantined = %s, files = %s, message = %s where batch_id = %s and started_at = %s",
        (status, rows_loaded, rows_quarantined, json.dumps(files), message, batch_id, started_at),
    )


def _abandon(conn: psycopg.Connection, batch_id: str) -> int:
    """Mark the batch's 'running' attempts abandoned and drop their staging tables; the caller
    holds the batch's lock."""
    from portrait.ingest.loader import drop_staging

    drop_staging(conn, batch_id)
    return conn.execute(
        "update dq.ingest_batches set status = 'abandoned', finished_at = clock_timestamp(), "
        "message = 'the ingest ended before finishing (process killed or connection lost); its "
        "staging tables were dropped' where batch_id = %s and status = 'running'",
        (batch_id,),
    ).rowcount


def reap(conn: psycopg.Connection) -> list[str]:
    """Every 'running' attempt whose batch lock is free (its process is gone) marked abandoned,
    its leftovers dropped; returns their batch ids. Autocommit connection."""
    reaped = []
    running = conn.execute(
        "select distinct batch_id from dq.ingest_batches where status = 'running'"
    ).fetchall()
    for (batch_id,) in running:
        key = batch_lock_key(batch_id)
        if conn.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[
            0
        ]:
            try:
                with conn.transaction():
                    if _abandon(conn, batch_id):
                        reaped.append(batch_id)
            finally:
                conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
    return reaped


# -- a build's batch set ---------------------------------------------------------------------
@dataclass
class Cut:
    cut: datetime
    batches: dict[str, str]  # batch_id: load time (ISO) of the version taken
    build_id: str = ""  # the build this cut starts: its gate runs and publication carry it

    def as_dict(self) -> dict[str, object]:
        return {"build_id": self.build_id, "cut": self.cut.isoformat(), "batches": self.batches}


def take_cut(settings: Settings) -> Cut:
    """Fix the build's batch set: everything loaded before the earliest ingest still running.
    Waits only for registrations in flight (milliseconds), never for a load."""
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        _ensure_register(conn)
        reap(conn)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (CUT_LOCK,))
            cut = conn.execute(
                "select least(clock_timestamp(), (select min(ingested_at) - interval '1 microsecond' "
                "from dq.ingest_batches where status = 'running'))"
            ).fetchone()[0]
            taken = conn.execute(
                f"select batch_id, ingested_at from ({CURRENT}) c where status = 'loaded' and ingested_at <= %s "
                "order by batch_id",
                (cut,),
            ).fetchall()
            batches = {b: t.isoformat() for b, t in taken}
            build_id = f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
            conn.execute("delete from dq.load_cut")
            conn.execute(
                "insert into dq.load_cut (cut, batches, build_id) values (%s, %s, %s)",
                (cut, json.dumps(batches), build_id),
            )
    return Cut(cut, batches, build_id)


def changed_since(settings: Settings, cut: Cut) -> list[str]:
    """The batches of the set that were replaced or dropped after the cut."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select distinct batch_id from dq.ingest_batches where status in ('loaded', 'dropped') "
                "and ingested_at > %s and batch_id = any(%s) order by 1",
                (cut.cut, list(cut.batches)),
            ).fetchall()
        ]


def check_unchanged(settings: Settings, cut: Cut) -> None:
    changed = changed_since(settings, cut)
    if changed:
        raise BatchesChanged(
            f"{len(changed)} batch(es) of this build's set were replaced or dropped while it ran: "
            f"{', '.join(changed[:3])}; nothing was published",
            where="dq.ingest_batches",
            rule="a build publishes the batch set it started with; the next build takes the new versions",
        )


# -- listing and dropping --------------------------------------------------------------------
@dataclass
class BatchRow:
    batch_id: str
    batch_date: str
    source: str
    status: str  # loaded, dropped, or the latest attempt's status when none loaded
    rows_loaded: int | None
    rows_quarantined: int | None
    loaded_at: str | None
    published: bool
    attempts: int
    message: str | None


def listing(settings: Settings) -> list[BatchRow]:
    """Every batch: its current version (loaded or dropped; else its latest attempt), whether the
    published marts include it, and how many attempts it took."""
    from portrait.publication import PUBLICATIONS_DDL, WATERMARK

    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        _ensure_register(conn)
        conn.execute(PUBLICATIONS_DDL)
        reap(conn)
        rows = conn.execute(f"""
            with attempts as (
                select batch_id, count(*) as attempts from dq.ingest_batches group by batch_id
            ), latest as (
                select distinct on (batch_id) * from dq.ingest_batches order by batch_id, started_at desc
            ), current as ({CURRENT})
            select l.batch_id, coalesce(c.batch_date, l.batch_date)::text, coalesce(c.source, l.source),
                   case when l.status in ('running', 'refused', 'failed', 'abandoned') and c.status is not null
                        then c.status || ' (last attempt ' || l.status || ')' else coalesce(c.status, l.status) end,
                   c.rows_loaded, c.rows_quarantined, c.ingested_at,
                   coalesce(c.status = 'loaded' and c.ingested_at <= {WATERMARK}, false),
                   a.attempts, coalesce(c.message, l.message)
            from latest l join attempts a using (batch_id) left join current c using (batch_id)
            order by 2, 1""").fetchall()
    return [
        BatchRow(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6].isoformat() if r[6] else None, r[7], r[8], r[9]
        )
        for r in rows
    ]


def drop(settings: Settings, batch_id: str, *, wait: float = 0.0) -> dict[str, object]:
    """Remove a loaded batch from raw and its quarantined rows, with an audit row ('dropped');
    the next build rebuilds what the batch touched (publication.increments_to_rebuild). Holds the
    build lock (no build sees half of it) and the batch's lock (no load of it meets it)."""
    from portrait.build_lock import held
    from portrait.ingest.contract import TABLES
    from portrait.ingest.loader import drop_partition

    with (
        held(settings, wait),
        warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn,
    ):
        conn.execute(
            "select pg_advisory_lock(hashtextextended(%s, 0))", (batch_lock_key(batch_id),)
        )
        current = conn.execute(
            f"select status, batch_date, source from ({CURRENT}) c where batch_id = %s", (batch_id,)
        ).fetchone()
        if current is None or current[0] != "loaded":
            known = [
                r[0]
                for r in conn.execute(
                    f"select batch_id from ({CURRENT}) c where status = 'loaded' order by 1"
                ).fetchall()
            ]
            raise UnknownBatch(
                f"no loaded batch {batch_id!r}" + (" (it was dropped)" if current else ""),
                where="dq.ingest_batches",
                rule=f"`portrait batches list` shows the loaded ones ({', '.join(known[-3:]) or 'none'}…)",
            )
        with conn.transaction():
            conn.execute(
                "select pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", (CUT_LOCK,)
            )
            dropped = [t.name for t in TABLES if drop_partition(conn, t.name, batch_id)]
            quarantined = conn.execute(
                "delete from quarantine.rejected_rows where batch_id = %s", (batch_id,)
            ).rowcount
            conn.execute(
                "insert into dq.ingest_batches (batch_id, batch_date, source, status, contract_version, started_at, "
                "finished_at, ingested_at, rows_loaded, rows_quarantined, files, message) "
                "select %s, %s, %s, 'dropped', contract_version, clock_timestamp(), clock_timestamp(), clock_timestamp(), "
                "0, 0, '[]', %s from dq.ingest_batches where batch_id = %s order by started_at desc limit 1",
                (
                    batch_id,
                    current[1],
                    current[2],
                    f"dropped by {getpass.getuser()}@{socket.gethostname()}",
                    batch_id,
                ),
            )
    return {"batch_id": batch_id, "tables": dropped, "quarantined_rows_removed": quarantined}
