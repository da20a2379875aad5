"""dbt through its Python runner, with Portrait's settings: the profile's environment, two
patches of dbt internals that save time per invocation, and what ran (BuildReport).

The dbt profile reads connection details from environment variables that are derived here from
PORTRAIT_DATABASE_URL or the embedded server; nothing secret is written to a file. dbt's target
and log folders live under PORTRAIT_HOME so a checkout stays clean.
"""

from __future__ import annotations

import contextlib
import json
import os
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


class SnapshotsFailed(PortraitError):
    """The marts were published, then their snapshots failed; the next build takes them."""

    exit_code = 9


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
    # the batch set the build took (portrait.ingest.batches.Cut.as_dict)
    batches: dict[str, object] = field(default_factory=dict)
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


def invoke(
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
    with dbt_environment(settings), _connections_kept_open():
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


def dbt_environment(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """dbt's variables (profiles.yml, paths, telemetry off) set in this process for the block."""
    return _environment(apply_telemetry_off(dbt_env(settings)))


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
    result = invoke(args, settings, variables, manifest, callbacks)
    report = BuildReport(
        command=" ".join(args),
        success=bool(result.success),
        seconds=round(time.perf_counter() - began, 2),
    )
    if result.exception is not None:
        # dbt's first line names the kind ("Parsing Error"), the next ones the file and the cause
        lines = [line.strip() for line in str(result.exception).splitlines() if line.strip()]
        message = " / ".join(lines[:3])[:400] or type(result.exception).__name__
        raise BuildFailed(
            f"dbt {args[0]} could not run: {message}",
            where=str(settings.dbt_project_dir),
            rule="dbt project",
        )
    outcomes = getattr(result.result, "results", None) or []
    for item in outcomes:
        node = getattr(item, "node", None)
        status = str(getattr(item.status, "value", item.status))
        report.nodes.append(
            NodeOutcome(
                name=getattr(node, "name", "?"),
                resource_type=str(getattr(node, "resource_type", "?")),
                status=status,
                seconds=round(float(getattr(item, "execution_time", 0.0) or 0.0), 2),
                message=(item.message or None) if status not in {"success", "pass"} else None,
                failures=getattr(item, "failures", None),
            )
        )
        report.counts[status] = report.counts.get(status, 0) + 1
    return report


BUILD_SCHEMA = "marts_build"


PUBLISHED_SCHEMA = "marts"


def raise_for_failed_nodes(
    report: BuildReport, settings: Settings, *, publishing: bool = True
) -> None:
    """BuildFailed naming the first failed node (and how many more); ``publishing`` for the steps
    before the swap, whose failure leaves the build schema unpublished for inspection."""
    failed = report.failed()
    if not failed:
        return
    first = failed[0]
    detail = [
        line.strip()
        for line in (first.message or "").strip().splitlines()
        if line.strip() and not line.strip().startswith(("Database Error in", "compiled code at"))
    ]
    more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
    raise BuildFailed(
        f"{first.resource_type} {first.name} {first.status}: {' / '.join(detail[:2]) if detail else 'no message'}{more}"
        + ("; nothing published" if publishing else ""),
        where=(f"schema {BUILD_SCHEMA} kept for inspection; " if publishing else "")
        + f"log {Path(settings.home) / 'dbt' / 'logs' / 'dbt.log'}",
        rule=f"dbt {report.command.split()[0] if report.command else 'build'}",
    )


def build_variables(as_of: date | None = None, schema: str = BUILD_SCHEMA) -> dict[str, object]:
    from portrait.ingest.contract import RETAIL_FAMILIES

    # the families the portrait shows holdings of come from the contract (one list)
    variables: dict[str, object] = {
        "marts_schema": schema,
        "product_families": list(RETAIL_FAMILIES),
    }
    if as_of:
        variables["as_of_date"] = as_of.isoformat()
    return variables


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
