"""Orchestration tax: the daily chain through Airflow against the same steps run directly by the
CLI (`portrait ingest`, `portrait build`, `portrait score`) on deliveries of the same size, in
the same run, alternating. Through the real scheduler (`portrait scheduler`: a delivery moved
into the inbox, `portrait run` triggers landing_ingest and follows the asset chain to
campaign_feedback) and in-process (`portrait run` with dag.test). Also: how long the scheduler
takes to be ready, and from a trigger to its first task's start.

Each side loads a delivery of its own (another seed, the same size and day: the batch is
replaced), since a delivery already loaded is not loaded again.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.common import Figure
from portrait.config import Settings
from portrait.synth.generator import generate

PORTRAIT = Path(sys.executable).with_name("portrait")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PORTRAIT), *args], env=env, check=True, capture_output=True,
                          text=True, timeout=3600)  # fmt: skip


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _port_block() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000:
            return port
    raise RuntimeError("no free port")


def _trigger_delay(settings: Settings) -> float:
    """Seconds from the last landing_ingest run's trigger (queued) to its task's start."""
    from portrait.orchestration.client import AirflowClient

    client = AirflowClient(settings)
    run = client.runs("landing_ingest", 1)[0]
    task = client.task_instances("landing_ingest", run["dag_run_id"])[0]
    queued = datetime.fromisoformat(run["queued_at"])
    return (datetime.fromisoformat(task["start_date"]) - queued).total_seconds()


def run(
    settings: Settings, customers: int = 3_000, months: int = 8, repeats: int = 2
) -> list[Figure]:
    port = _port_block()
    env = {**os.environ, "PORTRAIT_HOME": str(settings.home), "PORTRAIT_SCHEDULER_PORT": str(port),
           "PORTRAIT_INBOX_POLL": "0 0 1 1 *"}  # fmt: skip
    env.pop("PORTRAIT_DATABASE_URL", None)
    settings = Settings(
        home=settings.home, database_url=None, scheduler_port=port, inbox_poll="0 0 1 1 *"
    )
    staged = settings.home / "deliveries"
    sides = ("cli", "in-process", "scheduler")
    deliveries = {}
    for k in range(repeats * len(sides) + 1):
        deliveries[k] = staged / f"delivery-{k}"
        generate(deliveries[k], customers=customers, months=months, seed=42 + k)
    # warm: a first load, build and training, so that every side scores with champions
    _cli(env, "run", "--train", "--landing", str(deliveries[0]))
    k = iter(range(1, len(deliveries)))
    times: dict[str, list[float]] = {side: [] for side in sides}

    def cli() -> None:
        folder = deliveries[next(k)]
        _cli(env, "ingest", str(folder))
        _cli(env, "build")
        _cli(env, "score")

    def in_process() -> None:
        _cli(env, "run", "--landing", str(deliveries[next(k)]))

    def scheduled() -> None:
        folder = deliveries[next(k)]
        os.rename(folder, settings.inbox_dir / folder.name)  # a delivery arrives whole
        _cli(env, "run")  # triggers landing_ingest, follows the chain to campaign_feedback

    ready = _timed(lambda: _cli(env, "scheduler", "start"))
    delays = []
    try:
        for _ in range(repeats):
            times["cli"].append(_timed(cli))
            times["in-process"].append(_timed(in_process))
            times["scheduler"].append(_timed(scheduled))
            delays.append(_trigger_delay(settings))
    finally:
        _cli(env, "scheduler", "stop")
        shutil.rmtree(staged, ignore_errors=True)
    cli_median = statistics.median(times["cli"])
    detail = {"customers": customers, "months": months,
              **{f"{side}_seconds": [round(t, 1) for t in ts] for side, ts in times.items()},
              "note": "both Airflow paths also run campaign_feedback and measure drift after sliced scoring"}  # fmt: skip
    return [
        Figure("orchestration tax: portrait scheduler / same steps by CLI",
               statistics.median(times["scheduler"]) / cli_median, "ratio", "<= 1.3 (target 1.2)", detail),
        Figure("orchestration tax: portrait run in-process (dag.test) / same steps by CLI",
               statistics.median(times["in-process"]) / cli_median, "ratio", "<= 1.3 (target 1.2)", detail),
        Figure("portrait scheduler start: all components healthy, DAGs active", ready, "s", "<= 30 s"),
        Figure("scheduler: trigger to first task start", statistics.median(delays), "s", "",
               {"seconds": [round(d, 2) for d in delays]}),
    ]  # fmt: skip
