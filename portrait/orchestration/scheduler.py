"""`portrait scheduler start | stop | status`: Airflow for real, in the background.

Four components, each its own process group (so that stopping one stops its workers too):
api-server (UI, REST and the task execution API, 127.0.0.1 only), scheduler (LocalExecutor,
one worker per core), dag-processor and triggerer. Their configuration is portrait's Airflow
environment (portrait.orchestration.env); their output goes to PORTRAIT_HOME/logs/scheduler/.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portrait.config import Settings
from portrait.errors import PortraitError
from portrait.orchestration.chain import PIPELINES
from portrait.orchestration.client import AirflowClient, SchedulerUnavailable
from portrait.orchestration.env import ADMIN_USER, airflow_env, api_url, prepare_airflow_home
from portrait.warehouse import pid_alive, port_is_free

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# what /api/v2/monitor/health reports for each component (the API server answering is its own)
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
READY_TIMEOUT = 90.0


class SchedulerError(PortraitError):
    exit_code = 8


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""


@dataclass
class SchedulerStatus:
    url: str
    running: bool
    healthy: bool
    components: list[ComponentStatus] = field(default_factory=list)
    dags: dict[str, str] = field(default_factory=dict)  # dag_id: active / paused
    logs: str = ""
    user: str = ADMIN_USER
    password_file: str = ""
    seconds: float | None = None  # how long start took to be ready
    password: str | None = None  # set only by the first start

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _pid_dir(settings: Settings) -> Path:
    return settings.airflow_home / "pids"


def _log_dir(settings: Settings) -> Path:
    return settings.logs_dir / "scheduler"


def _pid(settings: Settings, name: str) -> int | None:
    path = _pid_dir(settings) / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _spawn(settings: Settings, name: str, env: dict[str, str]) -> int:
    log = _log_dir(settings) / f"{name}.log"
    # Airflow's CLI through portrait's shim: the scheduler preloads what the tasks import
    command = [sys.executable, "-m", "portrait.orchestration.airflow_cli", name]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (_pid_dir(settings) / f"{name}.pid").write_text(f"{process.pid}\n")
    return process.pid


def start(settings: Settings) -> SchedulerStatus:
    """Start whatever component is not running; wait until all are healthy and Portrait's DAGs
    are parsed and active. The admin password is returned by the first start only."""
    from portrait import warehouse

    began = time.perf_counter()
    warehouse.ensure_started(settings)
    env = airflow_env(settings)
    prepare_airflow_home(settings, env)
    for folder in (_pid_dir(settings), _log_dir(settings), settings.inbox_dir):
        folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in COMPONENTS if _pid(settings, name) is None]
    if "api-server" in missing:
        for port in (settings.scheduler_port, *(settings.scheduler_port + i for i in (1, 2, 3))):
            if not port_is_free(port):
                raise SchedulerError(
                    f"port {port} is in use",
                    where=f"127.0.0.1:{port}",
                    rule="set PORTRAIT_SCHEDULER_PORT to a free port (it uses that port and the three after it)",
                )
    for name in missing:
        _spawn(settings, name, env)
    _wait_ready(settings)
    dags = _activate_dags(settings)
    state = status(settings)
    state.dags = state.dags or dags  # a loaded machine may time out the second listing
    state.seconds = round(time.perf_counter() - began, 2)
    shown = settings.secrets_dir / "airflow-admin.shown"
    if not shown.exists():  # the first start prints the password, once
        from portrait.orchestration.env import admin_password

        state.password = admin_password(settings)
        shown.touch()
    return state


def _wait_ready(settings: Settings) -> None:
    client = AirflowClient(settings, timeout=3)
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        dead = [name for name in COMPONENTS if _pid(settings, name) is None]
        if dead:
            raise SchedulerError(
                f"airflow {dead[0]} exited while starting",
                where=str(_log_dir(settings) / f"{dead[0]}.log"),
                rule="see its log",
            )
        try:
            health = client.health()
            unhealthy = [
                k for k in HEALTH_KEYS.values() if health.get(k, {}).get("status") != "healthy"
            ]
            if not unhealthy and set(PIPELINES) <= set(client.dags()):
                return
            last = f"waiting for {', '.join(unhealthy) or 'the DAGs to be parsed'}"
        except SchedulerUnavailable as err:
            last = err.what
        time.sleep(0.5)
    raise SchedulerError(
        f"Airflow was not ready within {READY_TIMEOUT:.0f} s: {last}",
        where=str(_log_dir(settings)),
        rule="see the components' logs",
    )


def _activate_dags(settings: Settings) -> dict[str, str]:
    """Portrait's DAGs unpaused (a home made by an earlier release may hold them paused)."""
    client = AirflowClient(settings)
    listed = {d: v for d, v in sorted(client.dags().items()) if d in PIPELINES}
    for dag_id, dag in listed.items():
        if dag["is_paused"]:
            client.unpause(dag_id)
    return dict.fromkeys(listed, "active")


def status(settings: Settings) -> SchedulerStatus:
    from portrait.orchestration.env import passwords_file

    pids = {name: _pid(settings, name) for name in COMPONENTS}
    health: dict = {}
    dags: dict[str, str] = {}
    client = AirflowClient(settings)
    with contextlib.suppress(SchedulerUnavailable):
        health = client.health()
    with contextlib.suppress(SchedulerUnavailable):
        dags = (
            {}
            if not health
            else {
                d: "paused" if v["is_paused"] else "active"
                for d, v in sorted(client.dags().items())
                if d in PIPELINES
            }
        )
    components = []
    for name, pid in pids.items():
        if name == "api-server":
            healthy, detail = bool(health), "answering" if health else "not answering"
        else:
            entry = health.get(HEALTH_KEYS[name], {})
            healthy = entry.get("status") == "healthy"
            beat = next((v for k, v in entry.items() if k.endswith("heartbeat")), None)
            detail = f"heartbeat {beat}" if beat else entry.get("status") or "unknown"
        components.append(
            ComponentStatus(name, pid, pid is not None, healthy and pid is not None, detail)
        )
    running = any(c.running for c in components)
    return SchedulerStatus(
        api_url(settings),
        running,
        all(c.healthy for c in components),
        components,
        dags,
        str(_log_dir(settings)),
        ADMIN_USER,
        str(passwords_file(settings)),
    )


def stop(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Stop every component and its workers (SIGTERM to each process group, then SIGKILL);
    the names of those that were running."""
    stopped = []
    for name in reversed(COMPONENTS):
        pid = _pid(settings, name)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        stopped.append(name)
    deadline = time.monotonic() + timeout
    for name in stopped:
        pid = int((_pid_dir(settings) / f"{name}.pid").read_text())
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        (_pid_dir(settings) / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (workers included), zombies aside."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().split(") ", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def running(settings: Settings) -> bool:
    """Whether `portrait scheduler` runs for this home (all components up)."""
    return all(_pid(settings, name) is not None for name in COMPONENTS)
