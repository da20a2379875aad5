"""`portrait build`: dbt through its Python runner, with settings from the environment.

The dbt profile reads connection details from environment variables that are derived here from
PORTRAIT_DATABASE_URL or the embedded server; nothing secret is written to a file. dbt's target
and log folders live under PORTRAIT_HOME so a checkout stays clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

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
    }
    return env


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
    key = settings.pseudonym_key
    if not key:
        path = settings.secrets_dir / "pseudonym.key"
        if path.exists():
            key = path.read_text().strip()
        else:
            settings.secrets_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_hex(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key + "\n")
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


def run_dbt(
    args: list[str], *, settings: Settings | None = None, variables: dict[str, object] | None = None
) -> BuildReport:
    """Invoke dbt in-process; returns what ran, never raises for failed nodes (see BuildReport)."""
    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    env = dbt_env(settings)
    apply_telemetry_off(env)
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
    began = time.perf_counter()
    with _environment(env):
        result = dbtRunner().invoke(full)
    report = BuildReport(
        command=" ".join(args),
        success=bool(result.success),
        seconds=round(time.perf_counter() - began, 2),
    )
    if result.exception is not None:
        message = str(result.exception).strip().splitlines()
        raise BuildFailed(f"dbt {args[0]} could not run: {message[0] if message else type(result.exception).__name__}",
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


def build(
    *,
    settings: Settings | None = None,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    marts_schema: str = "marts",
) -> BuildReport:
    """`dbt build` of the warehouse; raises BuildFailed naming the first failed node."""
    settings = settings or get_settings()
    ensure_pseudonym_key(settings)
    args = ["build"]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    variables: dict[str, object] = {"marts_schema": marts_schema}
    if as_of:
        variables["as_of_date"] = as_of.isoformat()
    report = run_dbt(args, settings=settings, variables=variables)
    report.as_of_date = as_of.isoformat() if as_of else None
    failed = report.failed()
    if failed:
        first = failed[0]
        detail = [line.strip() for line in (first.message or "").strip().splitlines()
                  if line.strip() and not line.strip().startswith(("Database Error in", "compiled code at"))]  # fmt: skip
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        raise BuildFailed(
            f"{first.resource_type} {first.name} {first.status}: {' / '.join(detail[:2]) if detail else 'no message'}{more}",
            where=f"dbt_project ({Path(settings.home) / 'dbt' / 'logs' / 'dbt.log'})",
            rule="dbt build",
        )
    return report
