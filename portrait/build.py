"""`portrait build`: dbt through its Python runner, with settings from the environment.

The dbt profile reads connection details from environment variables that are derived here from
PORTRAIT_DATABASE_URL or the embedded server; nothing secret is written to a file. dbt's target
and log folders live under PORTRAIT_HOME so a checkout stays clean.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from portrait import warehouse
from portrait.config import Settings, apply_telemetry_off, get_settings
from portrait.errors import PortraitError


class BuildFailed(PortraitError):
    """A dbt model, test, seed or snapshot failed; the line names it."""

    exit_code = 5


@dataclass
class NodeOutcome:
    name: str
    resource_type: str
    status: str
    seconds: float
    message: str | None = None
    failures: int | None = None


@dataclass
class BuildReport:
    command: str
    success: bool
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    nodes: list[NodeOutcome] = field(default_factory=list)
    as_of_date: str | None = None
    gates: list[dict[str, object]] = field(default_factory=list)
    published: bool = False
    # why a daily build rebuilt the incremental tables from raw (see increments_to_rebuild)
    full_refresh_reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BuildReport:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["nodes"] = [NodeOutcome(**n) for n in fields.get("nodes", [])]
        return cls(**fields)

    def failed(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.status in {"error", "fail", "runtime error"}]


def dbt_env(settings: Settings) -> dict[str, str]:
    """PORTRAIT_DB_* variables for profiles.yml, from the owner URL."""
    parts = urlsplit(warehouse.owner_url(settings))
    dbt_dir = settings.home / "dbt"
    env = {
        "PORTRAIT_DB_HOST": parts.hostname or "127.0.0.1",
        "PORTRAIT_DB_PORT": str(parts.port or 5432),
        "PORTRAIT_DB_USER": unquote(parts.username or ""),
        "PORTRAIT_DB_PASSWORD": unquote(parts.password or ""),
        "PORTRAIT_DB_NAME": unquote(parts.path.lstrip("/")) or warehouse.DATABASE,
        "DBT_PROFILES_DIR": str(settings.dbt_project_dir),
        "DBT_PROJECT_DIR": str(settings.dbt_project_dir),
        "DBT_TARGET_PATH": str(dbt_dir / "target"),
        "DBT_LOG_PATH": str(dbt_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DBT_USE_COLORS": "False",
        "DBT_PARTIAL_PARSE": "True",
        # the profile leaves application_name to libpq: set per process here, not in the profile,
        # whose connection details dbt hashes (a new name each run would void partial parsing)
        "PGAPPNAME": build_application_name(),
    }
    return env


def build_application_name() -> str:
    """The application_name of this process's dbt sessions (pg_stat_activity)."""
    return f"portrait-build-{os.getpid()}"


def cancel_build_queries(settings: Settings) -> int:
    """Cancel the queries this process's dbt sessions are running; how many were cancelled."""
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        return conn.execute(
            "select count(*) filter (where pg_cancel_backend(pid)) from pg_stat_activity "
            "where application_name = %s and pid <> pg_backend_pid() and state = 'active'",
            (build_application_name(),),
        ).fetchone()[0]


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def ensure_pseudonym_key(settings: Settings) -> None:
    """The secret behind pseudonymous keys, stored where only the pipeline can read it."""
    key = settings.pseudonym_key or warehouse.secret_file(settings, "pseudonym.key")
    from portrait.ingest.loader import ensure_landing_tables

    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        ensure_landing_tables(
            conn
        )  # sources exist (and are up to date) even before the first ingest
        conn.execute("create table if not exists raw.pseudonym_key (key text not null)")
        conn.execute(
            "comment on table raw.pseudonym_key is 'Secret of the keyed hash behind pseudonymous ids in marts'"
        )
        current = conn.execute("select key from raw.pseudonym_key").fetchall()
        if [r[0] for r in current] != [key]:
            with conn.transaction():
                conn.execute("delete from raw.pseudonym_key")
                conn.execute("insert into raw.pseudonym_key values (%s)", (key,))


def _invoke(
    args: list[str],
    settings: Settings,
    variables: dict[str, object] | None,
    manifest=None,
    callbacks: list | None = None,
):
    """dbt's Python runner with Portrait's settings; with ``manifest`` (from parse_project) dbt
    neither parses the project nor writes the manifest again; ``callbacks`` receive dbt's events."""
    from dbt.cli.main import dbtRunner

    full = [
        *args[:1],
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        *args[1:],
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
    ]
    if variables:
        full += ["--vars", json.dumps(variables, default=str)]
    behaviour_flag_source_by_frames()
    with _dbt_environment(settings), _connections_kept_open():
        return dbtRunner(manifest=manifest, callbacks=callbacks).invoke(full)


def _module_of_caller() -> str:
    """The name of the first module up the stack other than dbt's behaviour flags: what
    ``BehaviorFlagRendered._default_source`` finds, read from the frames' globals."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return name
        frame = frame.f_back
    return "Unknown"


def behaviour_flag_source_by_frames() -> None:
    """dbt registers its adapter at each invocation, and each of the adapter's behaviour flags
    names its source module with ``inspect.stack()``, which reads the source lines of every frame
    on the stack (deep under dbt's click wrappers): 0.27 s of each invocation.
    The frames' module names are all the default needs (idempotent; the same result)."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    BehaviorFlagRendered._default_source = staticmethod(_module_of_caller)


def _release_keeping_connection(manager) -> None:
    """dbt's ``release`` for a node's connection, without closing it: the transaction is rolled
    back (as ``close`` does) and ``DISCARD ALL`` resets the session (temporary tables, settings,
    prepared statements), so the next node on the thread starts as on a new connection, but
    without a new backend (fork, SCRAM authentication) and with its catalogue caches warm. A
    connection that cannot be reset is closed as dbt would."""
    with manager.lock:
        conn = manager.get_if_exists()
    if conn is None or conn.state != "open" or conn.handle is None:
        return
    handle = conn.handle
    try:
        handle.rollback()  # psycopg2 opens a transaction implicitly, whatever dbt recorded
        conn.transaction_open = False
        handle.autocommit = True  # DISCARD cannot run inside a transaction block
        try:
            with handle.cursor() as cursor:
                cursor.execute("discard all")
        finally:
            handle.autocommit = False
    except Exception:
        manager.close(conn)


@contextlib.contextmanager
def _connections_kept_open() -> Iterator[None]:
    """dbt closes each node's connection when the node ends and opens a new one for the next (125
    connections in an incremental build at 10k, ~10 ms each before the new backend's first queries
    load its catalogue caches); for the invocation, each thread keeps its connection, reset
    between nodes. dbt closes them all when the invocation ends (``cleanup_all``)."""
    from dbt.adapters.postgres.connections import PostgresConnectionManager

    global _kept_open
    with _kept_open_lock:  # the parse thread's invocation may overlap another
        _kept_open += 1
        PostgresConnectionManager.release = _release_keeping_connection
    try:
        yield
    finally:
        with _kept_open_lock:
            _kept_open -= 1
            if not _kept_open:
                del PostgresConnectionManager.release  # the inherited release again


_kept_open = 0
_kept_open_lock = threading.Lock()


def _dbt_environment(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """dbt's variables (profiles.yml, paths, telemetry off) set in this process for the block."""
    return _environment(apply_telemetry_off(dbt_env(settings)))


def parse_project(
    settings: Settings, variables: dict[str, object] | None = None, fingerprint: str | None = None
):
    """``dbt parse`` with these variables: the manifest later invocations with the same variables
    can reuse (run_dbt(manifest=...)); None if the project does not parse, so that the invocation
    that needs it parses again and reports why.

    The manifest is kept in dbt's target folder (MANIFEST_CACHE) with a key of everything it is
    parsed from (manifest_key); a later build with the same key loads it instead of invoking dbt
    (~40 ms against 1.2-1.6 s for dbt's partial parse in a new process). The manifest's metadata
    (invocation id, generated at) stays the parse's, as it did when a build reused its own parse.
    ``fingerprint``: the project's, when the caller has it already."""
    key = manifest_key(settings, variables, fingerprint or project_fingerprint(settings))
    cached = _cached_manifest(settings, key)
    if cached is not None:
        return cached
    try:
        result = _invoke(["parse"], settings, variables)
    except Exception:  # reported by the next invocation, which parses again
        return None
    if not result.success:
        return None
    _cache_manifest(settings, key, result.result)
    return result.result


# dbt's parsed project, pickled beside dbt's own partial-parsing state in the target folder
MANIFEST_CACHE = "portrait-manifest.pickle"
# dbt-adapters holds the global macros the manifest carries, dbt-postgres the adapter's own
DBT_PACKAGES = ("dbt-core", "dbt-adapters", "dbt-postgres", "dbt-common")


@functools.cache
def _versions(packages: tuple[str, ...]) -> list[str]:
    """The installed versions of these packages (read once per process: ~20 ms)."""
    from importlib.metadata import version

    return [version(package) for package in packages]


def manifest_key(settings: Settings, variables: dict[str, object] | None, fingerprint: str) -> str:
    """sha256 of what dbt's manifest is parsed from: the project's files and dbt's version
    (``fingerprint``, from project_fingerprint), the variables, the profile's environment (database, user, threads)
    and dbt's own switches (DBT_*), the versions of the packages whose macros and parsers it
    holds (DBT_PACKAGES) and of Python."""
    environment = {k: v for k, v in (os.environ | dbt_env(settings)).items()
                   if k.startswith(("PORTRAIT_", "DBT_")) and k != "PGAPPNAME"}  # fmt: skip
    material = json.dumps([fingerprint, variables or {}, sorted(environment.items()),
                           _versions(DBT_PACKAGES), sys.version],
                          default=str, sort_keys=True)  # fmt: skip
    return hashlib.sha256(material.encode()).hexdigest()


def _manifest_cache_path(settings: Settings) -> Path:
    return Path(dbt_env(settings)["DBT_TARGET_PATH"]) / MANIFEST_CACHE


def _signature(settings: Settings, payload: bytes) -> bytes:
    """HMAC of the cached manifest with a key in PORTRAIT_HOME/secrets: only a file this home's
    builds wrote is ever unpickled."""
    import hmac

    secret = warehouse.secret_file(settings, "manifest-cache.key").encode()
    return hmac.new(secret, payload, "sha256").hexdigest().encode()


def _cached_manifest(settings: Settings, key: str):
    """The manifest cached under this key, or None (none, another key, altered, or unreadable)."""
    import hmac
    import pickle

    try:
        header, signature, payload = _manifest_cache_path(settings).read_bytes().split(b"\n", 2)
        expected = _signature(settings, header + payload)
        if header != key.encode() or not hmac.compare_digest(signature, expected):
            return None
        from dbt.contracts.graph.manifest import Manifest

        # signed above: written by a build of this home
        return Manifest(**pickle.loads(payload))  # noqa: S301
    except Exception:  # a missing, truncated or outdated file: dbt parses as before
        return None


def _cache_manifest(settings: Settings, key: str, manifest) -> None:
    """The manifest as parsed, before any invocation compiles into it; written whole or not at all.

    Its public fields are what is kept, as in dbt's own partial-parsing file: the lookups and the
    lock are made again (Manifest.__reduce_ex__ of dbt 1.11 passes its fields to the constructor
    one place off after ``functions``, which broke ref() in the loaded copy)."""
    import dataclasses
    import pickle

    fields = {f.name: getattr(manifest, f.name) for f in dataclasses.fields(manifest)
              if f.init and not f.name.startswith("_")}  # fmt: skip
    path = _manifest_cache_path(settings)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
        header = key.encode()
        partial.write_bytes(b"\n".join([header, _signature(settings, header + payload), payload]))
        os.replace(partial, path)
    except Exception:  # the cache only saves time: a build never fails for it
        partial.unlink(missing_ok=True)


def run_dbt(
    args: list[str],
    *,
    settings: Settings | None = None,
    variables: dict[str, object] | None = None,
    manifest=None,
    callbacks: list | None = None,
) -> BuildReport:
    """Invoke dbt in-process; returns what ran, never raises for failed nodes (see BuildReport)."""
    settings = settings or get_settings()
    began = time.perf_counter()
    result = _invoke(args, settings, variables, manifest, callbacks)
    report = BuildReport(
        command=" ".join(args),
        success=bool(result.success),
        seconds=round(time.perf_counter() - began, 2),
    )
    if result.exception is not None:
        # dbt's first line names the kind ("Parsing Error"), the next ones the file and the cause
        lines = [line.strip() for line in str(result.exception).splitlines() if line.strip()]
        message = " / ".join(lines[:3])[:400] or type(result.exception).__name__
        raise BuildFailed(f"dbt {args[0]} could not run: {message}",
                          where=str(settings.dbt_project_dir), rule="dbt project")  # fmt: skip
    outcomes = getattr(result.result, "results", None) or []
    for item in outcomes:
        node = getattr(item, "node", None)
        status = str(getattr(item.status, "value", item.status))
        report.nodes.append(NodeOutcome(
            name=getattr(node, "name", "?"),
            resource_type=str(getattr(node, "resource_type", "?")),
            status=status,
            seconds=round(float(getattr(item, "execution_time", 0.0) or 0.0), 2),
            message=(item.message or None) if status not in {"success", "pass"} else None,
            failures=getattr(item, "failures", None),
        ))  # fmt: skip
        report.counts[status] = report.counts.get(status, 0) + 1
    return report


BUILD_SCHEMA = "marts_build"
PUBLISHED_SCHEMA = "marts"

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
comment on column dq.publications.transactions_through is
    'Load time (ingested_at) of the latest batch built into the incremental facts (transactions, digital events, balances): the published fact views show rows loaded up to it';
"""


def _prepare_build_schema(settings: Settings, fresh: bool) -> None:
    """The schema dbt builds into; BI's table grants are set up front so they survive the swap."""
    from portrait.expectations.gates import ensure_tables

    ensure_tables(settings)
    from portrait.ml.schema import ensure_tables as ensure_ml_tables

    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        ensure_ml_tables(conn)  # dbt reads ml.customer_scores even before the first scoring
        conn.execute(PUBLICATIONS_DDL)
        if fresh:
            conn.execute(f"drop schema if exists {BUILD_SCHEMA} cascade")
        conn.execute(f"create schema if not exists {BUILD_SCHEMA}")
        conn.execute(
            f"alter default privileges in schema {BUILD_SCHEMA} grant select on tables to {warehouse.BI_ROLE}"
        )


def unpublished_batches(settings: Settings) -> list[str]:
    """Batches loaded after the last publication (the next build's new batches)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.ingest_batches')").fetchone()[0] is None:
            return []
        published = conn.execute("select to_regclass('dq.publications')").fetchone()[0]
        watermark = ("(select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications)"
                     if published else "'-infinity'::timestamptz")  # fmt: skip
        return [r[0] for r in conn.execute(
            f"select distinct batch_id from dq.ingest_batches where status = 'loaded' and ingested_at > {watermark}"
        ).fetchall()]  # fmt: skip


def _unpublished_batches(settings: Settings) -> tuple[list[str], dict[str, list[int]], set[str]]:
    """Batches loaded after the last publication, recent row counts per table, tables delivered."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        batches = [r[0] for r in conn.execute(
            "select batch_id from dq.ingest_batches where status = 'loaded' and ingested_at > "
            "(select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications) "
            "group by batch_id order by min(batch_date)").fetchall()]  # fmt: skip
        recent: dict[str, list[int]] = {}
        delivered: set[str] = set()
        rows = conn.execute(
            "select b.batch_id, f ->> 'table', (f ->> 'rows_loaded')::bigint from dq.ingest_batches b, "
            "jsonb_array_elements(b.files) f where b.status = 'loaded' order by b.started_at desc limit 2000").fetchall()  # fmt: skip
        for batch_id, table, count in rows:
            if batch_id in batches:
                delivered.add(table)
            elif len(recent.setdefault(table, [])) < 10:
                recent[table].append(count)
    return batches, recent, delivered


def publish(settings: Settings, *, as_of: date | None, seconds: float, landing_run: str | None,
            marts_run: str | None, warnings: int, fingerprint: str | None = None,
            full_refresh: bool = False) -> None:  # fmt: skip
    """Swap the audited build schema in for the published marts, in one transaction; recorded
    with the fingerprint of the project built (by default the project as it is now). A full build
    answers the rebuild requests made before it started."""
    fingerprint = fingerprint or project_fingerprint(settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if full_refresh:
            conn.execute("delete from dq.rebuild_requests where requested_at <= now() - %s * interval '1 second'",
                         (seconds,))  # fmt: skip
        had = conn.execute(
            "select 1 from pg_namespace where nspname = %s", (PUBLISHED_SCHEMA,)
        ).fetchone()
        if had:
            conn.execute(f"alter schema {PUBLISHED_SCHEMA} rename to {PUBLISHED_SCHEMA}_previous")
        conn.execute(f"alter schema {BUILD_SCHEMA} rename to {PUBLISHED_SCHEMA}")
        conn.execute(f"grant usage on schema {PUBLISHED_SCHEMA} to {warehouse.BI_ROLE}")
        conn.execute(
            f"grant select on all tables in schema {PUBLISHED_SCHEMA} to {warehouse.BI_ROLE}"
        )
        conn.execute(
            "insert into dq.publications (as_of_date, transactions_through, build_seconds, landing_run_id, marts_run_id, warnings, project_fingerprint) "
            "values (%s, (select greatest((select max(ingested_at) from intermediate.int_transactions_deduplicated), "
            "(select max(ingested_at) from intermediate.int_digital_events_deduplicated), "
            "(select max(ingested_at) from intermediate.int_balances_classified))), %s, %s, %s, %s, %s)",
            (as_of, round(seconds, 2), landing_run, marts_run, warnings, fingerprint),
        )  # fmt: skip
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


def increments_to_rebuild(settings: Settings) -> str | None:
    """Why the incremental tables must be rebuilt from raw before this build, or None.

    A build takes new batches into the incremental tables before its gates pass, and publishes
    them only if they do (the published fact views stop at the watermark). Two things make what
    it took in stale: a rebuild request (a build whose landing gate failed had taken in the batches
    it refused), or a batch taken in, never published, and since replaced by a new delivery of the
    same date (its rows' load time is no longer the latest load of a batch: a key the new delivery
    no longer carries would otherwise stay)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        request = conn.execute(
            "select reason from dq.rebuild_requests order by requested_at desc limit 1"
        ).fetchone()
        if request:
            return request[0]
        for table in RAW_INCREMENTS:
            if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
                continue
            stale = conn.execute(
                f"select min(ingested_at) from {table} where ingested_at > "
                "(select coalesce(max(transactions_through), '-infinity'::timestamptz) from dq.publications) "
                "and ingested_at not in (select max(ingested_at) from dq.ingest_batches "
                "where status = 'loaded' group by batch_id)"
            ).fetchone()[0]  # fmt: skip
            if stale is not None:
                return (f"{table} holds unpublished rows loaded at {stale.isoformat()} from a batch "
                        "that has since been replaced")  # fmt: skip
    return None


def _restore_published_views(settings: Settings) -> list[str]:
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


def _request_rebuild(settings: Settings, reason: str) -> None:
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute("insert into dq.rebuild_requests (reason) values (%s)", (reason,))


class _LandingGateBeside:
    """The landing gate, run beside dbt's build: Great Expectations' own work (~0.2 s of Python
    per suite) overlaps dbt's longest models, which wait on the database. It runs in a child
    process forked before dbt starts (portrait/forked.py: its Python then does not take turns
    with dbt's), or in a thread where forking is not safe; a thread here waits for its verdict.
    dbt builds into the build schema and takes the new batches into the incremental tables,
    which nothing reads before publication; the gate's verdict is awaited before anything is
    published. When it fails, the next build rebuilds the incremental tables (a rebuild request)
    instead of keeping what this one took in from the refused batches."""

    def __init__(self, settings: Settings) -> None:
        from portrait import forked

        self.settings = settings
        self.result = None
        self.error: BaseException | None = None
        self._dbt_done = threading.Event()
        run = functools.partial(_run_landing_gate, settings, docs_in_background=True)
        # forked first: the thread below is this process's second
        self.child = forked.ForkedGate(run, name="landing gate") if forked.can_fork() else None
        self._thread = threading.Thread(target=self._run, name="landing-gate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from portrait.expectations.gates import GateFailed

        try:
            if self.child is not None:
                self.result = self.child.result()
            else:
                self.result = _run_landing_gate(self.settings, docs_in_background=True)
            if self.result is not None:
                _raise_if_failed(self.result)
        except BaseException as err:  # raised in the caller's thread by wait()
            self.error = err
            # fail fast: dbt's queries are cancelled as they start (its nodes fail, their
            # dependents are skipped) until the caller reports the gate's failure
            while isinstance(err, GateFailed) and not self._dbt_done.wait(0.2):
                with contextlib.suppress(Exception):
                    cancel_build_queries(self.settings)

    def wait(self):
        """After dbt: the gate's result (None when there was no new batch); raises what the gate
        raised."""
        self._dbt_done.set()
        self._thread.join()
        if self.error is not None:
            from portrait.expectations.gates import GateFailed

            if isinstance(self.error, GateFailed):
                _request_rebuild(
                    self.settings, f"a build took in batches its landing gate refused: {self.error}"
                )
            raise self.error
        return self.result


def _gx_done(landing: _LandingGateBeside | None, results: list) -> None:
    """Wait for the landing gate (beside dbt or before it) and its Data Docs, whatever they raise
    (the build reports that)."""
    if landing is not None:
        landing._thread.join()
        if landing.result is not None:
            landing.result.docs_written()
    for result in results:
        result.docs_written()


def prepare_build(settings: Settings, *, fresh: bool = True) -> None:
    """Step 1: pseudonym key, landing tables up to date, an empty build schema."""
    ensure_pseudonym_key(settings)
    _prepare_build_schema(settings, fresh=fresh)


def landing_gate(settings: Settings) -> dict[str, object] | None:
    """Step 2: the landing gate on the batches loaded since the last publication (None if none)."""
    result = _landing_gate(settings)
    return result.summary() if result else None


def _landing_gate(settings: Settings, *, docs_in_background: bool = False):
    result = _run_landing_gate(settings, docs_in_background=docs_in_background)
    if result is not None:
        _raise_if_failed(result)
    return result


def _run_landing_gate(settings: Settings, *, docs_in_background: bool = False):
    """The landing gate's GateResult, failed or not (None when no batch is new)."""
    from portrait.expectations import gates as dq
    from portrait.expectations.suites import landing

    batches, recent, delivered = _unpublished_batches(settings)
    if not batches:
        return None
    suites = landing.suites(batches, recent, delivered, settings.stale_batch_days)
    return dq.run_gate("landing", suites, settings=settings,
                       docs_in_background=docs_in_background)  # fmt: skip


def _raise_if_failed(result) -> None:
    """GateFailed for a failed gate, once its Data Docs (what governance opens next) are written."""
    from portrait.expectations import gates as dq

    if not result.success:
        result.finish_docs()
    dq.raise_if_failed(result)


def _raise_for_failed_nodes(
    report: BuildReport, settings: Settings, *, publishing: bool = True
) -> None:
    """BuildFailed naming the first failed node (and how many more); ``publishing`` for the steps
    before the swap, whose failure leaves the build schema unpublished for inspection."""
    failed = report.failed()
    if not failed:
        return
    first = failed[0]
    detail = [line.strip() for line in (first.message or "").strip().splitlines()
              if line.strip() and not line.strip().startswith(("Database Error in", "compiled code at"))]  # fmt: skip
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    raise BuildFailed(
        f"{first.resource_type} {first.name} {first.status}: {' / '.join(detail[:2]) if detail else 'no message'}{more}"
        + ("; nothing published" if publishing else ""),
        where=(f"schema {BUILD_SCHEMA} kept for inspection; " if publishing else "")
        + f"log {Path(settings.home) / 'dbt' / 'logs' / 'dbt.log'}",
        rule=f"dbt {report.command.split()[0] if report.command else 'build'}",
    )


# Left out of the daily build: snapshots run after publishing; unit tests check the models' logic
# on fixed inputs, not the day's data, so they run in CI (`make test`, tests/integration/
# test_build.py) as dbt advises, instead of on every build's critical path.
DAILY_EXCLUDE = ["resource_type:snapshot", "resource_type:unit_test"]


# Left out of a daily build when the project has not changed since the last publication and
# their relations exist (see staging_can_be_kept): the staging views and the seeds. Their data tests
# still run (the staging views' on the day's data).
STAGING_MODELS = "models/staging"
KEPT_WHEN_UNCHANGED = ["resource_type:seed", f"resource_type:model,path:{STAGING_MODELS}"]


def project_fingerprint(settings: Settings) -> str:
    """sha256 of the dbt project's files (models, macros, seeds, snapshots, tests, configuration)
    and of dbt's version: what the staging views and seeds are built from."""
    from dbt.version import __version__ as dbt_version

    root = settings.dbt_project_dir
    digest = hashlib.sha256(dbt_version.encode())
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (
            path.is_file()
            and relative.parts[0] not in {"target", "logs", "dbt_packages"}
            and "__pycache__" not in relative.parts
        ):
            digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def staging_can_be_kept(settings: Settings, manifest, fingerprint: str) -> bool:
    """Whether the staging views and seeds can stay as they are: the last publication was built
    from the same project, and each of their relations is still there (a view dropped with its
    table is rebuilt)."""
    if manifest is None:
        return False
    relations = [f'"{node.schema}"."{node.alias}"' for node in manifest.nodes.values()
                 if node.resource_type == "seed"
                 or (node.resource_type == "model" and node.original_file_path.startswith(f"{STAGING_MODELS}/"))]  # fmt: skip
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


def dbt_build(settings: Settings, *, as_of: date | None = None, select: str | None = None,
              full_refresh: bool = False, manifest=None, keep_unchanged: bool = False,
              callbacks: list | None = None) -> BuildReport:  # fmt: skip
    """Step 3: dbt build (models, seeds, data tests; see DAILY_EXCLUDE) into the build schema;
    with ``keep_unchanged``, the staging views and seeds as they are (KEPT_WHEN_UNCHANGED);
    ``callbacks`` receive dbt's events (each finished node, among others)."""
    args = ["build", "--exclude", *DAILY_EXCLUDE]
    if keep_unchanged:  # "empty": the excluded models' and seeds' tests stay selected
        args += [*KEPT_WHEN_UNCHANGED, "--indirect-selection", "empty"]
    if select:
        args += ["--select", select, "--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    report = run_dbt(args, settings=settings, variables=build_variables(as_of), manifest=manifest,
                     callbacks=callbacks)  # fmt: skip
    report.as_of_date = as_of.isoformat() if as_of else None
    _raise_for_failed_nodes(report, settings)
    return report


def unit_tests(settings: Settings | None = None) -> BuildReport:
    """dbt's unit tests (hand-computed expected rows for the contribution formula, RFM scoring,
    tag rules, triggers and uplift); raises BuildFailed naming the first that fails."""
    settings = settings or get_settings()
    # the inputs' column types come from the published marts (a built warehouse is needed)
    report = run_dbt(["test", "--select", "test_type:unit"], settings=settings,
                     variables=build_variables(schema=PUBLISHED_SCHEMA))  # fmt: skip
    _raise_for_failed_nodes(report, settings, publishing=False)
    return report


def build_variables(as_of: date | None = None, schema: str = BUILD_SCHEMA) -> dict[str, object]:
    variables: dict[str, object] = {"marts_schema": schema}
    if as_of:
        variables["as_of_date"] = as_of.isoformat()
    return variables


def marts_gate(settings: Settings) -> dict[str, object]:
    """Step 4: the marts gate on the build schema, against the published marts if any."""
    return _marts_gate(settings).summary()


def _marts_gate(settings: Settings, *, docs_in_background: bool = False, ready=None):
    from portrait.expectations import gates as dq
    from portrait.expectations.suites import marts

    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        published = conn.execute(
            "select to_regclass(%s)", (f"{PUBLISHED_SCHEMA}.customer_portrait",)
        ).fetchone()[0]
    result = dq.run_gate("marts", marts.suites(BUILD_SCHEMA, PUBLISHED_SCHEMA if published else None),
                         settings=settings, docs_in_background=docs_in_background, ready=ready)  # fmt: skip
    _raise_if_failed(result)
    return result


def build_tables_read(spec) -> set[str]:
    """The build schema's tables a gate suite reads: its query's and its row queries'."""
    texts = [
        spec.query,
        *(getattr(e, "unexpected_rows_query", None) or "" for e in spec.expectations),
    ]
    return set(re.findall(rf"\b{BUILD_SCHEMA}\.(\w+)", " ".join(texts)))


class DbtProgress:
    """What dbt has done so far in one invocation, from its events (``on_event`` is a dbtRunner
    callback, called on dbt's worker threads): ``say`` gets "dbt: N nodes done, last <node>" as
    nodes finish, and ``wait_for`` blocks until some build-schema tables are built (True) or the
    build has ended (whether it succeeded)."""

    def __init__(self, say: Callable[[str], None] = lambda _line: None) -> None:
        self.say = say
        self.done = 0
        self._built: set[str] = set()
        self._succeeded: bool | None = None  # None while dbt runs
        self._changed = threading.Condition()

    def on_event(self, msg) -> None:
        with contextlib.suppress(Exception):  # never break dbt's run: a waiter waits for its end
            if msg.info.name != "NodeFinished":
                return
            node = msg.data.node_info
            with self._changed:  # lines in the order of the count
                if (
                    node.node_relation.schema == BUILD_SCHEMA
                    and msg.data.run_result.status == "success"
                ):
                    self._built.add(node.node_relation.alias)
                    self._changed.notify_all()
                self.done += 1
                with contextlib.suppress(Exception):  # nor does a display
                    self.say(f"dbt: {self.done} nodes done, last {node.node_name}")

    def finished(self, succeeded: bool) -> None:
        """dbt has ended; False also when the build failed after it (a gate)."""
        with self._changed:
            self._succeeded = succeeded
            self._changed.notify_all()

    def wait_for(self, tables: set[str]) -> bool:
        """True once ``tables`` are built (or dbt succeeded); False once dbt has failed."""
        with self._changed:
            self._changed.wait_for(lambda: self._succeeded is not None or tables <= self._built)
            return self._succeeded is not False


class _MartsGateBeside:
    """The marts gate, run beside dbt's build: each suite is validated as soon as dbt has built
    the tables it reads, so the portrait's checks overlap the models dbt still builds after it
    (the long format, tags, triggers, target lists) instead of following them. Nothing is
    published before its verdict, as before. It starts once the GX work before it is done
    (``after``: the landing gate and its Data Docs; one GX context at a time), and gives up at the
    next suite when dbt fails (its verdict would not be read)."""

    def __init__(self, settings: Settings, progress: DbtProgress, after=None) -> None:
        self.settings = settings
        self.progress = progress
        self.result = None
        self.error: BaseException | None = None
        self._after = after
        self._thread = threading.Thread(target=self._run, name="marts-gate", daemon=True)
        self._thread.start()

    def _ready(self, spec) -> bool:
        return self.progress.wait_for(build_tables_read(spec))

    def _run(self) -> None:
        try:
            if self._after is not None:
                self._after()
            self.result = _marts_gate(self.settings, docs_in_background=True, ready=self._ready)
        except BaseException as err:  # raised in the caller's thread by wait()
            self.error = err

    def wait(self):
        """After ``progress.finished``: the gate's result; raises what it raised (GateFailed)."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def abandon(self) -> None:
        """The build failed: stop before the next suite and wait for the thread to end."""
        self.progress.finished(False)
        self._thread.join()


def snapshot(settings: Settings, as_of: date | None = None) -> BuildReport:
    """Step 6 (after publishing): SCD2 snapshots of the published portrait.

    The snapshots read the published marts through the source ``published``; the variables are
    the build's own, so dbt's partial parsing holds between the two invocations (a full parse
    costs ~3.5 s each time the variables change)."""
    # --no-write-json: the build's invocation just wrote the same manifest, and its run results
    # (130 nodes) stay in target/ instead of being replaced by these two snapshots'
    variables = build_variables(as_of)
    manifest = parse_project(settings, variables)  # the build's, from the cache
    report = run_dbt(["snapshot", "--no-write-json"], settings=settings, variables=variables,
                     manifest=manifest)  # fmt: skip
    _raise_for_failed_nodes(report, settings, publishing=False)  # the marts are published by now
    return report


def build(
    *,
    settings: Settings | None = None,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    gates: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """The warehouse_build pipeline's steps (portrait.orchestration.chain) in this process: what
    `portrait build` runs, and what the warehouse_build DAG's tasks run one by one. Publish_build,
    then the snapshots of what it published; the nodes and counts of both."""
    from portrait.orchestration.chain import run_local

    params = {"as_of": as_of.isoformat() if as_of else "", "select": select or "",
              "full_refresh": full_refresh, "gates": gates}  # fmt: skip
    results = run_local("warehouse_build", params, say=progress or (lambda _line: None),
                        settings=settings or get_settings())  # fmt: skip
    report = BuildReport.from_dict(results["build"])
    snapshots = results.get("snapshots", {})
    for node in snapshots.get("nodes", []):
        report.nodes.append(NodeOutcome(**node))
    for key, value in snapshots.get("counts", {}).items():
        report.counts[key] = report.counts.get(key, 0) + value
    return report


def publish_build(
    *,
    settings: Settings | None = None,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    gates: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Write-Audit-Publish: landing gate, dbt build into the build schema, marts gate, swap.

    With ``select`` the build schema is built for inspection and nothing is published.
    Raises GateFailed or BuildFailed naming the first failure; the published marts stay as they were.
    ``as_of`` defaults to the latest batch date delivered, read once here: every model, the
    publication's record and the snapshots use that one date.
    ``progress`` receives a short line at each step and as dbt finishes each node (on dbt's
    threads); it is first called after the landing gate has forked (a spinner's thread started
    before would keep it from forking).
    """
    settings = settings or get_settings()
    as_of = as_of or latest_batch_date(settings)
    # dbt's variables are set here, on this thread, for the whole build: the parse thread's own
    # invocation then finds them set and removes none of them when it ends, while Great
    # Expectations (the landing gate, beside it) copies os.environ key by key (a key removed in
    # between raised KeyError: 'PORTRAIT_DB_HOST' in the gate)
    with _dbt_environment(settings):
        return _build(settings, as_of=as_of, select=select, full_refresh=full_refresh, gates=gates,
                      say=progress or (lambda _line: None))  # fmt: skip


def latest_batch_date(settings: Settings) -> date | None:
    """The latest batch date delivered (what dbt's as_of_date() macro defaults to)."""
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('raw.customers')").fetchone()[0] is None:
            return None
        return conn.execute("select max(batch_date) from raw.customers").fetchone()[0]


def _build(settings: Settings, *, as_of: date | None, select: str | None, full_refresh: bool,
           gates: bool, say: Callable[[str], None]) -> BuildReport:  # fmt: skip
    from concurrent.futures import ThreadPoolExecutor

    began = time.perf_counter()
    prepare_build(settings, fresh=select is None)
    reason = None if full_refresh or select is not None else increments_to_rebuild(settings)
    full_refresh = full_refresh or reason is not None
    # the landing gate beside dbt starts first: it forks a child process while this one has a
    # single thread
    landing = (
        _LandingGateBeside(settings) if gates and select is None and not full_refresh else None
    )
    # dbt parses the project, then builds, while the landing gate validates beside it (nothing is
    # published before its verdict); each gate's Data Docs are written while the next step runs:
    # the landing gate's during dbt, the marts gate's during publishing and the snapshots
    say("landing gate and dbt's parse" if landing else "dbt's parse")
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dbt-parse")
    fingerprint = project_fingerprint(settings)  # the cached manifest's key, the publication's
    parsing = parser.submit(parse_project, settings, build_variables(as_of), fingerprint)
    results = []
    if gates and select is None and full_refresh:
        # before dbt when rebuilding: a full refresh replaces the incremental tables under the
        # published fact views (macros/repoint_dependent_views.sql moves the views to the new
        # tables), and a refused batch must stop it while the views still read the old ones
        say("landing gate (before a full refresh)")
        try:
            gate = _landing_gate(settings, docs_in_background=True)
        finally:
            parser.shutdown(wait=True)
        results += [gate] if gate else []
    progress = DbtProgress(say)
    marts_gate = None
    try:
        dbt_succeeded = False
        try:
            manifest = parsing.result()
            keep = (
                select is None
                and not full_refresh
                and staging_can_be_kept(settings, manifest, fingerprint)
            )
            if gates and select is None:
                marts_gate = _MartsGateBeside(
                    settings, progress, after=functools.partial(_gx_done, landing, list(results))
                )
            say("dbt build" + (" (full refresh)" if full_refresh else ""))
            report = dbt_build(settings, as_of=as_of, select=select, full_refresh=full_refresh, manifest=manifest,
                               keep_unchanged=keep, callbacks=[progress.on_event])  # fmt: skip
            dbt_succeeded = True
        finally:
            progress.finished(dbt_succeeded)
            # a failed landing gate is the error to report, whatever dbt did beside it
            gate = landing.wait() if landing else None
            results += [gate] if gate else []
        report.full_refresh_reason = reason
        if select is not None:
            return report
        for result in results:
            result.finish_docs()  # one GX context at a time
        if marts_gate is not None:
            say("marts gate")
            results.append(marts_gate.wait())
        say("publishing")
        gate_summaries = [result.summary() for result in results]
        publish(settings, as_of=as_of, seconds=time.perf_counter() - began,
                landing_run=next((g["run_id"] for g in gate_summaries if g["stage"] == "landing"), None),
                marts_run=next((g["run_id"] for g in gate_summaries if g["stage"] == "marts"), None),
                warnings=sum(int(g["warnings"]) for g in gate_summaries), fingerprint=fingerprint,
                full_refresh=full_refresh)  # fmt: skip
    except BaseException:
        if marts_gate is not None:
            marts_gate.abandon()
        for result in results:
            with contextlib.suppress(Exception):  # the build's own error is the one to report
                result.finish_docs()
        if full_refresh and select is None:
            with contextlib.suppress(Exception):
                _restore_published_views(settings)
        raise
    finally:
        parser.shutdown(wait=True)
    for result in results:
        result.finish_docs()
    report.gates = gate_summaries
    report.published = True
    report.seconds = round(time.perf_counter() - began, 2)
    return report


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
            raise BuildFailed("no published marts to add scores to", where=f"schema {PUBLISHED_SCHEMA}",
                              rule="run the warehouse build (`portrait run` / `portrait build`) first")  # fmt: skip
        ensure_ml_tables(conn)
        # fresh statistics before dbt joins the scores: planned blind right after scoring wrote
        # them, the marketing marts' joins ran for minutes at 100k customers
        conn.execute("analyze ml.customer_scores")
        conn.execute(f"drop schema if exists {SCORES_SCHEMA} cascade")
        conn.execute(f"create schema {SCORES_SCHEMA}")
    variables = {"marts_schema": PUBLISHED_SCHEMA, "scores_schema": SCORES_SCHEMA}
    report = run_dbt(
        ["build", "--select", SCORED_SELECTION], settings=settings, variables=variables
    )
    _raise_for_failed_nodes(report, settings)
    from portrait.expectations import gates as dq
    from portrait.expectations.suites.marts import score_suites

    gate = dq.run_gate("marts", score_suites(SCORES_SCHEMA), settings=settings)
    dq.raise_if_failed(gate)
    report.gates = [gate.summary()]
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        tables = [r[0] for r in conn.execute(
            "select tablename from pg_tables where schemaname = %s order by 1", (SCORES_SCHEMA,)).fetchall()]  # fmt: skip
        for table in tables:
            conn.execute(f"drop table if exists {PUBLISHED_SCHEMA}.{table}")
            conn.execute(f"alter table {SCORES_SCHEMA}.{table} set schema {PUBLISHED_SCHEMA}")
            conn.execute(f"grant select on {PUBLISHED_SCHEMA}.{table} to {warehouse.BI_ROLE}")
        conn.execute(f"drop schema {SCORES_SCHEMA} cascade")
        conn.commit()
    report.published = True
    return report
