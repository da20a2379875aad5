"""Loading one landing batch into ``raw``: COPY, typed, batch-stamped, bad rows to quarantine.

A batch is all the files of one landing folder for one (source, batch date). Each table's rows go
into a staging table of their own (``raw._load_<table>__<batch>``), created in the transaction that
fills it so PostgreSQL can skip WAL and freeze rows on COPY (binary COPY, values encoded by
portrait.pgcopy; CSV for a chunk off the encoder's fast path). Each file's transaction commits on
its own, in a thread, while the next file loads on another connection (up to three): the commit
is where PostgreSQL writes a new table's files to disk (0.17-2.6 s for the transactions of a
10k x 6 delivery), and it now overlaps the next file instead of holding up the end of the batch. The
staging tables are no partition of anything until one last transaction swaps them all in as the
batch's partitions of ``raw.<table>`` (list-partitioned by ``batch_id``), so readers see the old
batch or the new one, never half of either; re-ingesting the same batch replaces it atomically. A
whole-file problem refuses the batch, and its staging tables are dropped: nothing of it loads. An
advisory lock per batch keeps two loads of the same batch from meeting. Every attempt is recorded
in ``dq.ingest_batches``.
"""

from __future__ import annotations

import io
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from portrait import pgcopy, warehouse
from portrait.config import Settings, get_settings
from portrait.errors import InputError, PortraitError
from portrait.ingest import batches
from portrait.ingest.contract import (
    CONTRACT_VERSION,
    LINEAGE_COLUMNS,
    SQL_TYPES,
    TABLES,
    Table,
    load_order,
)
from portrait.ingest.readers import Chunk, HeaderCheck, sha256_of
from portrait.ingest.rules import Checked, check_chunk, has_repeats, key_hashes, later_duplicates

QUEUE_DEPTH = 3
CONNECTIONS = 3  # a file loads on one while the files before it commit on the others


@dataclass
class LandingFile:
    """One contract table delivered by a source: where it came from and how to read it."""

    table: Table
    path: Path
    header: HeaderCheck
    chunks: Callable[[], Iterator[Chunk]]


@dataclass
class FileReport:
    table: str
    file: str
    sha256: str
    bytes: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    unknown_columns: list[str] = field(default_factory=list)
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchReport:
    batch_id: str
    batch_date: str
    source: str
    status: str
    contract_version: str
    files: list[FileReport]
    seconds: float
    warnings: list[str] = field(default_factory=list)
    replaced: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent per phase

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @classmethod
    def new(cls, source: str, batch_date: date, status: str, warnings: list[str] | None = None):
        """A batch's report before any file is loaded."""
        return cls(
            batch_id=batch_id_for(source, batch_date),
            batch_date=str(batch_date),
            source=source,
            status=status,
            contract_version=CONTRACT_VERSION,
            files=[],
            seconds=0.0,
            warnings=list(warnings or []),
        )

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["rows_loaded"] = self.rows_loaded
        out["rows_quarantined"] = self.rows_quarantined
        return out


class IngestFailed(PortraitError):
    """The database refused the batch (nothing of it was loaded)."""

    exit_code = 4


ProgressFn = Callable[[str, int, int], None]  # (table, bytes done, bytes total)


# --------------------------------------------------------------------------------------------
# DDL


ANALYZE_SHARE = 0.1  # as autovacuum's analyze_scale_factor: re-sample after 10 % new rows
STATISTICS_TARGET = 10  # a 3,000-row sample: row counts and distinct keys (see _stale_parents)


def _stale_parents(conn: psycopg.Connection, report: BatchReport) -> list[str]:
    """Statistics for the planner after a load: the new batch's partitions always (each right after
    its file's commit, see BatchLoader); a table's parent when the batch adds more than
    ANALYZE_SHARE of its rows (or it has none yet): these, largest first.

    Autovacuum never analyzes a partitioned parent: without this, dbt's queries on the raw tables
    were planned with default estimates (200 distinct keys) and a nested loop over two
    100k-customer deliveries ran for over 10 minutes. ``ONLY`` samples the parent across batches
    without re-analyzing every earlier partition (a plain ANALYZE of raw.transactions took 45 s
    at 105 M rows, and grew with every batch). A sample of 3,000 rows per table (statistics
    target 10, not 100) is what these plans need, row counts and distinct keys, and made the
    analyze of a 10k-customer delivery ten times faster (5.0 s -> 0.5 s).
    """
    stale = []
    for file in sorted(report.files, key=lambda f: -f.rows_loaded):
        known = conn.execute(
            "select reltuples from pg_class where oid = to_regclass(%s)", (f"raw.{file.table}",)
        ).fetchone()
        if known is None or known[0] < 0 or file.rows_loaded > ANALYZE_SHARE * known[0]:
            stale.append(file.table)
    return stale


def batch_id_for(source: str, batch_date: date) -> str:
    return f"{source}-{batch_date:%Y%m%d}"


def partition_name(table: str, batch_id: str) -> str:
    return f"{table}__{re.sub(r'[^a-z0-9]+', '_', batch_id.lower())}"[:63]


# bytes a value of the type is aligned to; variable-width values (text, numeric), stored unaligned
# when short, go last
_ALIGNMENT = {
    "timestamptz": 8,
    "bigint": 8,
    "double precision": 8,
    "date": 4,
    "smallint": 2,
    "boolean": 1,
}


def staging_tables(batch_id: str) -> list[str]:
    """The staging tables a load of the batch creates (what a killed load leaves behind)."""
    return [_staging_name(table.name, batch_id) for table in TABLES]


def drop_staging(conn: psycopg.Connection, batch_id: str) -> None:
    for name in staging_tables(batch_id):
        conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("raw", name)))


def drop_partition(conn: psycopg.Connection, table: str, batch_id: str) -> bool:
    """The batch's partition of raw.<table> dropped; False when it has none."""
    final = partition_name(table, batch_id)
    if conn.execute("select to_regclass(%s)", (f"raw.{final}",)).fetchone()[0] is None:  # type: ignore[index]
        return False
    conn.execute(sql.SQL("drop table {}").format(sql.Identifier("raw", final)))
    return True


def _staging_name(table: str, batch_id: str) -> str:
    """Where a file's rows wait, committed, until the batch is swapped in (see the module doc)."""
    return f"_load_{partition_name(table, batch_id)}"[:63]


def ensure_landing_tables(conn: psycopg.Connection) -> None:
    """raw.<table> (partitioned by batch), quarantine.rejected_rows, dq.ingest_batches. Idempotent."""
    for table in TABLES:
        ident = sql.Identifier("raw", table.name)
        cols = [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type))
            for c in table.columns
        ]
        cols += [
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t, _ in LINEAGE_COLUMNS
        ]
        conn.execute(
            sql.SQL("create table if not exists {} ({}) partition by list (batch_id)").format(
                ident, sql.SQL(", ").join(cols)
            )
        )
        for c in table.columns:  # contract evolution: new optional columns appear on old tables
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    ident, sql.Identifier(c.name), sql.SQL(c.sql_type)
                )
            )
        conn.execute(
            sql.SQL("comment on table {} is {}").format(ident, sql.Literal(table.description))
        )
    conn.execute("""
        create table if not exists quarantine.rejected_rows (
            batch_id text not null,
            batch_date date not null,
            source text not null,
            source_table text not null,
            source_file text not null,
            line_number bigint,
            record jsonb,
            rule text not null,
            detail text,
            rejected_at timestamptz not null default now()
        )""")
    conn.execute(
        "create index if not exists rejected_rows_batch on quarantine.rejected_rows (batch_id)"
    )
    conn.execute(
        "comment on table quarantine.rejected_rows is "
        "'Rows refused by the landing contract, with the rule they broke (contains raw PII)'"
    )
    conn.execute("""
        create table if not exists dq.ingest_batches (
            batch_id text not null,
            batch_date date not null,
            source text not null,
            status text not null,
            contract_version text not null,
            started_at timestamptz not null,
            finished_at timestamptz,
            ingested_at timestamptz,
            rows_loaded bigint,
            rows_quarantined bigint,
            files jsonb,
            message text,
            primary key (batch_id, started_at)
        )""")
    # columns added after a table was first created (older PORTRAIT_HOMEs)
    conn.execute("alter table dq.ingest_batches add column if not exists ingested_at timestamptz")
    batches.ensure_tables(conn)
    conn.execute(
        "comment on table dq.ingest_batches is "
        "'Audit of every ingest attempt: files with sha256, row counts, status'"
    )


# --------------------------------------------------------------------------------------------
# Loading


def _copy_columns(lf: LandingFile) -> list[str]:
    """The COPY statement's columns: the line number first, then the file's columns in its order.
    First, it sits beside the other fixed-width fields at the start of the row (the encoder joins
    one piece per row fewer than with it last)."""
    return ["line_number", *lf.header.present]


def _serialise(lf: LandingFile, checked: Checked) -> tuple[str, object]:
    """A chunk's valid rows for COPY, columns as _copy_columns: binary (the server receives typed
    values, no parsing) unless a value is off the encoder's fast path, then CSV (see
    portrait.pgcopy)."""
    types = {c.name: SQL_TYPES[c.type] for c in lf.table.columns}
    checked_valid, lines = checked.valid.select(lf.header.present), checked.valid_lines
    encoded = pgcopy.encode(
        [("bigint", lines), *((types[n], checked_valid[n]) for n in lf.header.present)],
        floats={
            i + 1: checked.numbers[n]
            for i, n in enumerate(lf.header.present)
            if n in checked.numbers
        },
    )
    if encoded is not None:
        return "binary", encoded
    data = checked_valid.add_column(0, "line_number", pa.array(lines, pa.int64()))
    buffer = io.BytesIO()
    pacsv.write_csv(
        data, buffer, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
    )
    return "csv", buffer.getvalue()


class _CopyStream:
    """COPY into a staging table, each chunk in the format it was serialised in: a change of
    format ends one COPY statement and starts the next (same transaction, same table)."""

    def __init__(
        self, conn: psycopg.Connection, target: sql.Composable, columns: list[str]
    ) -> None:
        self.conn, self.target = conn, target
        self.columns = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        self.format: str | None = None
        self._context = self._copy = None

    def write(self, fmt: str, payload) -> None:
        if fmt != self.format:
            self.close()
            statement = sql.SQL("copy {} ({}) from stdin with (format {}, freeze)").format(
                self.target, self.columns, sql.SQL(fmt)
            )
            self._context = self.conn.cursor().copy(statement)
            self._copy = self._context.__enter__()
            self.format = fmt
            if fmt == "binary":
                self._copy.write(pgcopy.SIGNATURE)
        self._copy.write(payload)

    def close(self, error: BaseException | None = None) -> None:
        if self._context is None:
            return
        context, self._context = self._context, None
        if error is None:
            if self.format == "binary":
                self._copy.write(pgcopy.TRAILER)
            context.__exit__(None, None, None)
        else:
            context.__exit__(type(error), error, error.__traceback__)
        self.format = None


NUL_SYMBOL = "\u2400"  # how a quarantined record shows a NUL character


class _Producer(threading.Thread):
    """Reads, checks and serialises chunks while the main thread streams COPY data to the server;
    hashes the valid rows' keys too, and at the end tells whether any key hash repeats, while
    the server still loads the last chunks (0.13 s for the transactions at 10k x 6, which the
    main thread spent after the COPY, with the server idle)."""

    def __init__(
        self, lf: LandingFile, batch_date: date, parents: dict[str, pa.Array], key: tuple[str, ...]
    ) -> None:
        super().__init__(daemon=True, name=f"ingest-{lf.table.name}")
        self.lf, self.batch_date, self.parents, self.key = lf, batch_date, parents, key
        self.out: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.stop = threading.Event()
        self.hashes: list[np.ndarray] = []  # per chunk: its valid rows' key hashes...
        self.lines: list[np.ndarray] = []  # ... and their line numbers
        self.repeats = False  # set before "end"

    def _put(self, item: tuple) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            for chunk in self.lf.chunks():
                checked = check_chunk(
                    self.lf.table,
                    chunk.data,
                    chunk.line_numbers,
                    batch_date=self.batch_date,
                    parents=self.parents,
                )
                payload = _serialise(self.lf, checked) if checked.valid.num_rows else None
                self._put(("chunk", chunk, checked, payload))
                if self.stop.is_set():
                    return
                if self.key and checked.valid.num_rows:
                    self.hashes.append(key_hashes(checked.valid, self.key))
                    self.lines.append(checked.valid_lines)
            self.repeats = bool(self.hashes) and has_repeats(self.hashes)
            self._put(("end",))
        except BaseException as err:
            self._put(("error", err))


class BatchLoader:
    """Loads a batch's files one by one on its own connections: a file loads on one while the files
    before it commit on the others (see the module doc). The first connection holds the batch's
    lock and publishes; close() closes them all."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        *,
        source: str,
        batch_date: date,
        progress: ProgressFn | None = None,
    ) -> None:
        self._connect = connect
        self.conn = self._open()
        self.conns = [self.conn]
        self.source = source
        self.batch_date = batch_date
        self.batch_id = batch_id_for(source, batch_date)
        self.started_at = self.ingested_at = datetime.now(UTC)  # both set by begin()
        self.progress = progress
        self.batch_keys: dict[str, list[pa.Array]] = {}
        # keys of earlier batches per reference ("accounts.account_id"), read once per batch
        # (balances, transactions, cards and loans all name accounts), in a thread on a
        # connection of its own while the first files load (see prefetch_parent_keys)
        self._earlier_keys: dict[str, Future] = {}
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parent-keys")
        self._reader_conn: psycopg.Connection | None = None
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._committer = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix="commit")
        self._pending: dict[psycopg.Connection, Future] = {}  # its file's commit, oldest first
        self.quarantine: list[tuple] = []
        self.loaded: list[str] = []

    def close(self) -> None:
        """Stop the hashing and commit threads (a refused file leaves its hash unfinished) and
        close the connections, which releases the batch's lock."""
        self._hasher.shutdown(wait=True, cancel_futures=True)
        self._committer.shutdown(wait=True, cancel_futures=True)
        self._reader.shutdown(wait=True, cancel_futures=True)
        for conn in [*self.conns, self._reader_conn]:
            if conn is not None:
                conn.close()

    def _open(self) -> psycopg.Connection:
        conn = self._connect()
        conn.execute("set synchronous_commit = off")
        conn.execute(f"set default_statistics_target = {STATISTICS_TARGET}")
        conn.commit()
        return conn

    # -- the batch's lock and staging tables ---------------------------------------------------
    def begin(self, started_at: datetime) -> None:
        """Take the batch's lock (a second load of the same batch waits here for the first) and
        register the attempt (batches.register: it gives the rows their load time, and marks a
        load killed midway abandoned and drops the staging tables it left behind)."""
        self.conn.execute(
            "select pg_advisory_lock(hashtextextended(%s, 0))",
            (batches.batch_lock_key(self.batch_id),),
        )
        self.started_at = started_at
        self.ingested_at = batches.register(
            self.conn,
            batch_id=self.batch_id,
            batch_date=self.batch_date,
            source=self.source,
            contract_version=CONTRACT_VERSION,
            started_at=started_at,
        )
        self.conn.commit()

    def _drop_staging(self) -> None:
        drop_staging(self.conn, self.batch_id)
        self.conn.commit()

    def _connection(self) -> psycopg.Connection:
        """A connection without a commit in progress: a free one, else a new one (up to
        CONNECTIONS), else the one whose commit started first, once it is done. (The
        transactions' commit took 0.17-0.26 s: with two connections taking turns, the second
        file after it waited for it.)"""
        free = [c for c in self.conns if c not in self._pending or self._pending[c].done()]
        if free:
            conn = free[0]
        elif len(self.conns) < CONNECTIONS:
            conn = self._open()
            self.conns.append(conn)
        else:
            conn = next(iter(self._pending))
        pending = self._pending.pop(conn, None)
        if pending is not None:
            pending.result()
        return conn

    @staticmethod
    def _commit_file(conn: psycopg.Connection, staging: sql.Identifier) -> None:
        """Runs in a thread: the file's commit (PostgreSQL writes the new table's files to disk
        here), then its statistics for the planner, which stay with it as a partition."""
        conn.commit()
        conn.execute(sql.SQL("analyze {}").format(staging))
        conn.commit()

    def analyze_parents(self, report: BatchReport) -> None:
        """The parents that need statistics (_stale_parents), shared out over the connections
        (0.24 s one after the other at 10k x 6, the transactions' 0.085 s the longest)."""
        stale = _stale_parents(self.conn, report)
        self.conn.commit()

        def analyze(conn: psycopg.Connection, tables: list[str]) -> None:
            for table in tables:
                conn.execute(sql.SQL("analyze only {}").format(sql.Identifier("raw", table)))
            conn.commit()

        n = len(self.conns)
        jobs = [
            self._committer.submit(analyze, conn, stale[i::n]) for i, conn in enumerate(self.conns)
        ]
        for job in jobs:
            job.result()

    def finish(self) -> None:
        """Wait for the files' commits (raises a commit's error)."""
        while self._pending:
            self._pending.popitem()[1].result()

    def discard(self) -> None:
        """After a failure: roll back what is open and drop the batch's staging tables, so that
        nothing of the batch stays behind. Best effort: what a lost connection leaves is
        dropped by the next load of the batch (begin)."""
        for pending in self._pending.values():
            pending.exception()  # waits; its error is the one being raised, or follows from it
        self._pending.clear()
        try:
            for conn in self.conns:
                conn.rollback()
            self._drop_staging()
        except psycopg.Error:
            pass

    # -- parents -----------------------------------------------------------------------------
    def prefetch_parent_keys(self, tables: list[Table]) -> None:
        """Start reading the earlier batches' keys that ``tables`` (in load order) refer to, in the
        order the files will need them. They do not depend on this batch, so the reads (40 ms for
        the accounts of one earlier 10k-customer batch, on the server's side mostly) overlap the
        first files' loads instead of holding up the files that need them."""
        for table in tables:
            for column in table.columns:
                ref = column.references
                if ref is not None and ref not in self._earlier_keys:
                    self._earlier_keys[ref] = self._reader.submit(self._read_earlier_keys, ref)

    def _read_earlier_keys(self, ref: str) -> pa.Array:
        if self._reader_conn is None:
            self._reader_conn = self._connect()
            self._reader_conn.autocommit = True
        parent, column = ref.split(".")
        rows = self._reader_conn.execute(
            sql.SQL("select distinct {} from {} where batch_id <> %s").format(
                sql.Identifier(column), sql.Identifier("raw", parent)
            ),
            (self.batch_id,),
        ).fetchall()
        return pa.array([r[0] for r in rows], pa.string())

    def _parent_keys(self, table: Table) -> dict[str, pa.Array]:
        out = {}
        for ref in {c.references for c in table.columns if c.references}:
            assert ref is not None
            if ref not in self._earlier_keys:
                self._earlier_keys[ref] = self._reader.submit(self._read_earlier_keys, ref)
            known = [self._earlier_keys[ref].result(), *self.batch_keys.get(ref, [])]
            out[ref] = (
                pa.chunked_array(known, pa.string()).combine_chunks()
                if known
                else pa.array([], pa.string())
            )
        return out

    # -- one file ----------------------------------------------------------------------------
    def load_file(self, lf: LandingFile) -> FileReport:
        """Stream one file's checked rows into a staging table of its own, drop repeated keys,
        add the per-file lineage, and hand the table to the committer."""
        began = time.perf_counter()
        table = lf.table
        conn = self._connection()
        # the file's sha256 is computed in a thread while the rows stream (hashlib releases the
        # GIL), so it does not hold up the start of each file (0.4-0.6 s per 10k x 6 delivery)
        digest = self._hasher.submit(sha256_of, lf.path)
        report = FileReport(
            table=table.name,
            file=str(lf.path),
            sha256="",
            bytes=lf.path.stat().st_size,
            unknown_columns=lf.header.unknown,
        )
        staging = self._create_staging(conn, table)
        key_cols = [c for c in table.key if c in lf.header.present]
        parent_refs = {
            c.references
            for t in TABLES
            for c in t.columns
            if c.references and c.references.split(".")[0] == table.name
        }
        keys_seen: dict[str, list[pa.Array]] = {ref: [] for ref in parent_refs}
        producer = self._stream(conn, lf, staging, key_cols, keys_seen, report)
        if producer.repeats:
            self._drop_duplicates(
                conn,
                table,
                lf,
                staging,
                key_cols,
                np.concatenate(producer.hashes),
                np.concatenate(producer.lines),
                report,
                keys_seen,
            )
        self._add_constants(conn, staging, lf)
        report.sha256 = digest.result()
        for ref, arrays in keys_seen.items():
            self.batch_keys[ref] = arrays
        if table.required and report.rows_read == 0:
            raise InputError(
                f"required table {table.name} has no rows (header only)",
                where=str(lf.path),
                rule="required table must not be empty",
            )
        self._pending[conn] = self._committer.submit(self._commit_file, conn, staging)
        self.loaded.append(table.name)
        report.seconds = round(time.perf_counter() - began, 3)
        return report

    def _create_staging(self, conn: psycopg.Connection, table: Table) -> sql.Identifier:
        """An empty staging table shaped as the partition it becomes."""
        staging = sql.Identifier("raw", _staging_name(table.name, self.batch_id))
        conn.execute(sql.SQL("drop table if exists {}").format(staging))
        # the lineage values that are one constant per file are no part of the rows: added after
        # them (see _add_constants); batch_id, the partition key, is written with each row.
        # Columns by alignment, widest first, so that no padding sits between them (a partition
        # may order its columns as it likes; COPY and queries name them)
        nothing = sql.SQL("")
        columns = [(c.name, c.sql_type, nothing) for c in table.columns]
        columns += [
            ("batch_id", "text", sql.SQL(" default {}").format(sql.Literal(self.batch_id))),
            ("line_number", "bigint", nothing),
        ]
        columns.sort(key=lambda c: _ALIGNMENT.get(c[1], 0), reverse=True)
        conn.execute(
            sql.SQL("create table {} ({})").format(
                staging,
                sql.SQL(", ").join(
                    sql.SQL("{} {}{}").format(sql.Identifier(n), sql.SQL(t), d)
                    for n, t, d in columns
                ),
            )
        )
        # the partition constraint (the batch's key, which a list partition never holds as null),
        # declared before the rows arrive, so that ATTACH needs no scan: without `is not null` it
        # scans the table to prove it (0.22 s for 2.9 M transactions)
        conn.execute(
            sql.SQL(
                "alter table {} add constraint {} check (batch_id is not null and batch_id = {})"
            ).format(
                staging, sql.Identifier(f"_load_{table.name}_batch"), sql.Literal(self.batch_id)
            )
        )
        return staging

    def _stream(
        self,
        conn: psycopg.Connection,
        lf: LandingFile,
        staging: sql.Identifier,
        key_cols: list[str],
        keys_seen: dict[str, list[pa.Array]],
        report: FileReport,
    ) -> _Producer:
        """COPY the rows a producer thread reads and checks; quarantine the rejected ones."""
        producer = _Producer(lf, self.batch_date, self._parent_keys(lf.table), tuple(key_cols))
        producer.start()
        done_bytes = 0
        stream = _CopyStream(conn, staging, _copy_columns(lf))
        try:
            while (item := producer.out.get())[0] != "end":
                if item[0] == "error":
                    raise item[1]
                _, chunk, checked, payload = item
                if payload:
                    stream.write(*payload)
                self._record_chunk(lf, chunk, checked, keys_seen, report)
                done_bytes += sum(col.nbytes for col in chunk.data.columns)
                if self.progress:
                    self.progress(lf.table.name, min(done_bytes, report.bytes), report.bytes)
        except BaseException as err:
            stream.close(err)
            raise
        else:
            stream.close()
        finally:
            producer.stop.set()
            producer.join(timeout=5)
        return producer

    def _record_chunk(
        self,
        lf: LandingFile,
        chunk,
        checked: Checked,
        keys_seen: dict[str, list[pa.Array]],
        report: FileReport,
    ) -> None:
        """Count a chunk's rows, quarantine its rejects, keep its keys that children reference."""
        table = lf.table
        report.rows_read += chunk.data.num_rows + len(chunk.rejects)
        report.rows_loaded += checked.valid.num_rows
        for r in chunk.rejects:
            self._reject(table, lf, r.line_number, {"_raw": r.text}, r.rule, r.detail, report)
        rj = checked.rejects
        for line, rule, detail, record in zip(
            rj.line_numbers.tolist(), rj.rules, rj.details, rj.records, strict=True
        ):
            self._reject(table, lf, line, record, rule, detail, report)
        for ref in keys_seen:
            column = ref.split(".")[1]
            if column in checked.valid.column_names:
                keys_seen[ref].append(checked.valid[column].combine_chunks())

    def _add_constants(
        self, conn: psycopg.Connection, staging: sql.Identifier, lf: LandingFile
    ) -> None:
        """The lineage columns whose value is the same for every row of the file, added once the
        rows are in: PostgreSQL keeps such a column's value in the catalogue (a "missing" value,
        as for any column added with a constant default) and every row reads it from there. The
        rows are ~33 bytes shorter (batch_date, ingested_at, source_file and their alignment): at
        10k x 6 the transactions' partition shrank from 401 to 317 MB of pages to write."""
        conn.execute(
            sql.SQL(
                "alter table {} add column batch_date date default {}, add column ingested_at timestamptz default {}, "
                "add column source_file text default {}"
            ).format(
                staging,
                sql.Literal(self.batch_date),
                sql.Literal(self.ingested_at),
                sql.Literal(lf.path.name),
            )
        )

    def _reject(
        self,
        table: Table,
        lf: LandingFile,
        line: int,
        record: dict,
        rule: str,
        detail: str,
        report: FileReport,
    ) -> None:
        # jsonb cannot hold a NUL character: a row quarantined for one (rule invalid_character)
        # keeps it as U+2400 SYMBOL FOR NULL instead of refusing the whole batch
        record = {
            k: v.replace("\x00", NUL_SYMBOL) if isinstance(v, str) else v for k, v in record.items()
        }
        self.quarantine.append(
            (
                self.batch_id,
                self.batch_date,
                self.source,
                table.name,
                lf.path.name,
                line,
                json.dumps(record, default=str),
                rule,
                detail,
            )
        )
        report.rows_quarantined += 1
        report.quarantined_by_rule[rule] = report.quarantined_by_rule.get(rule, 0) + 1

    def _drop_duplicates(
        self,
        conn: psycopg.Connection,
        table: Table,
        lf: LandingFile,
        staging: sql.Identifier,
        key_cols: list[str],
        hashes: np.ndarray,
        lines: np.ndarray,
        report: FileReport,
        keys_seen: dict[str, list[pa.Array]],
    ) -> None:
        """Keep the first row of each key; quarantine the later ones (checked exactly in SQL)."""
        candidates = lines[later_duplicates(hashes)]
        if candidates.size == 0:
            return
        match = sql.SQL(" and ").join(
            sql.SQL("q.{c} is not distinct from p.{c}").format(c=sql.Identifier(c))
            for c in key_cols
        )
        rows = conn.execute(
            sql.SQL(
                "delete from {t} p where p.line_number = any(%s) and exists "
                "(select 1 from {t} q where {m} and q.line_number < p.line_number) "
                "returning p.line_number, (select min(q.line_number) from {t} q where {m}), to_jsonb(p)"
            ).format(t=staging, m=match),
            (candidates.tolist(),),
        ).fetchall()
        for line, first, record in rows:
            for drop in ("batch_id", "batch_date", "ingested_at", "source_file", "line_number"):
                record.pop(drop, None)
            self._reject(
                table,
                lf,
                line,
                record,
                "duplicate_key",
                f"{', '.join(key_cols)} already on line {first}",
                report,
            )
        report.rows_loaded -= len(rows)
        if rows and keys_seen:
            # parent keys of this batch come from the rows that stayed
            for ref in keys_seen:
                column = ref.split(".")[1]
                values = conn.execute(
                    sql.SQL("select {} from {}").format(sql.Identifier(column), staging)
                ).fetchall()
                keys_seen[ref] = [pa.array([v[0] for v in values], pa.string())]

    # -- the whole batch ---------------------------------------------------------------------
    def publish(self) -> bool:
        """Swap the new partitions in; returns True if an earlier load of this batch was replaced."""
        replaced = False
        for name in self.loaded:
            final = partition_name(name, self.batch_id)
            replaced = drop_partition(self.conn, name, self.batch_id) or replaced
            staging = sql.Identifier("raw", _staging_name(name, self.batch_id))
            self.conn.execute(
                sql.SQL("alter table {} rename to {}").format(staging, sql.Identifier(final))
            )
            target = sql.Identifier("raw", final)
            self.conn.execute(
                sql.SQL("alter table {} attach partition {} for values in ({})").format(
                    sql.Identifier("raw", name), target, sql.Literal(self.batch_id)
                )
            )
        # tables delivered by an earlier load of this batch but not by this one disappear too
        for table in TABLES:
            if table.name not in self.loaded:
                replaced = drop_partition(self.conn, table.name, self.batch_id) or replaced
        deleted = self.conn.execute(
            "delete from quarantine.rejected_rows where batch_id = %s", (self.batch_id,)
        )
        replaced = replaced or deleted.rowcount > 0
        if self.quarantine:
            with self.conn.cursor().copy(
                "copy quarantine.rejected_rows (batch_id, batch_date, source, source_table, source_file, "
                "line_number, record, rule, detail) from stdin"
            ) as copy:
                for row in self.quarantine:
                    copy.write_row(row)
        return replaced


def _audit(
    url: str,
    report: BatchReport,
    started_at: datetime,
    message: str | None,
    ingested_at: datetime | None = None,
) -> None:
    """One row per attempt; `ingested_at` equals the loaded rows' own, so incremental models can
    find the batches they have not seen by reading this small table instead of raw."""
    with warehouse.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into dq.ingest_batches (batch_id, batch_date, source, status, contract_version, started_at, "
            "finished_at, ingested_at, rows_loaded, rows_quarantined, files, message) "
            "values (%s, %s, %s, %s, %s, %s, now(), %s, %s, %s, %s, %s)",
            (
                report.batch_id,
                report.batch_date,
                report.source,
                report.status,
                report.contract_version,
                started_at,
                ingested_at,
                report.rows_loaded,
                report.rows_quarantined,
                json.dumps([asdict(f) for f in report.files]),
                message,
            ),
        )


def record_refusal(
    source: str, batch_date: date, err: PortraitError, settings: Settings | None = None
) -> None:
    """Audit a batch refused before loading started (a whole-file problem found while reading headers)."""
    url = warehouse.owner_url(settings or get_settings())
    with warehouse.connect(url, autocommit=True) as conn:
        ensure_landing_tables(conn)
    report = BatchReport.new(source, batch_date, "refused")
    _audit(url, report, datetime.now(UTC), err.line())


def ingest_files(
    files: list[LandingFile],
    *,
    source: str,
    batch_date: date,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    warnings: list[str] | None = None,
) -> BatchReport:
    """Load already-discovered landing files as one batch (the adapters call this)."""
    settings = settings or get_settings()
    url = warehouse.owner_url(settings)
    began = time.perf_counter()
    started_at = datetime.now(UTC)
    report = BatchReport.new(source, batch_date, "running", warnings)
    by_table = {lf.table.name: lf for lf in files}
    phase = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal phase
        now = time.perf_counter()
        report.phases[name] = round(now - phase, 3)
        phase = now

    with warehouse.connect(url, autocommit=True) as conn:
        ensure_landing_tables(conn)
        batches.reap(conn)
    lap("prepare")
    registered = False
    try:
        loader = BatchLoader(
            lambda: warehouse.connect(url), source=source, batch_date=batch_date, progress=progress
        )
        try:
            loader.begin(started_at)
            registered = True
            loader.prefetch_parent_keys([t for t in load_order() if t.name in by_table])
            for table in load_order():
                lf = by_table.get(table.name)
                if lf is not None:
                    report.files.append(loader.load_file(lf))
                    if lf.header.unknown:
                        report.warnings.append(
                            f"{lf.path.name}: unknown columns ignored: {', '.join(lf.header.unknown)}"
                        )
            lap("load")
            loader.finish()
            lap("commit files")
            report.replaced = loader.publish()
            batches.record(loader.conn, status="loaded", message=None, **_outcome(report, loader))
            lap("publish")
            loader.conn.commit()  # the partitions and the 'loaded' record, together
            lap("commit")
            loader.analyze_parents(report)
            lap("analyze")
        except BaseException:
            loader.discard()
            raise
        finally:
            loader.close()
    except InputError as err:
        _end(url, report, started_at, "refused", err.line(), registered)
        report.seconds = round(time.perf_counter() - began, 3)
        raise
    except psycopg.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _end(url, report, started_at, "failed", first, registered)
        report.seconds = round(time.perf_counter() - began, 3)
        raise IngestFailed(
            f"the database refused the batch: {first}",
            where=report.batch_id,
            rule="nothing of this batch was loaded",
        ) from None
    report.status = "loaded"
    report.seconds = round(time.perf_counter() - began, 3)
    return report


def _outcome(report: BatchReport, loader: BatchLoader) -> dict:
    return {
        "batch_id": report.batch_id,
        "started_at": loader.started_at,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "files": [asdict(f) for f in report.files],
    }


def _end(
    url: str, report: BatchReport, started_at: datetime, status: str, message: str, registered: bool
) -> None:
    """A refused or failed attempt's record: its registered row updated, or (refused before the
    batch's lock was taken) a row of its own."""
    report.status = status
    if not registered:
        _audit(url, report, started_at, message)
        return
    with warehouse.connect(url, autocommit=True) as conn:
        batches.record(
            conn,
            batch_id=report.batch_id,
            started_at=started_at,
            status=status,
            rows_loaded=report.rows_loaded,
            rows_quarantined=report.rows_quarantined,
            files=[asdict(f) for f in report.files],
            message=message,
        )
