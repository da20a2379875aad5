"""Orchestration tax: the daily chain through Airflow against the same steps run directly by the
CLI (`portrait ingest`, `portrait build`, `portrait score`) on deliveries of the same size, in
the same run, alternating. Through the real scheduler (`portrait scheduler`: a delivery moved
into the inbox, `portrait run` triggers landing_ingest and follows the asset chain to
campaign_feedback) and in-process (`portrait run` with dag.test). Also: how long the scheduler
takes to be ready, and from a trigger to its first task's start.

Every side loads the same rows again (the batch is replaced by itself): the CLI the same files,
the Airflow paths copies that differ only in the order of one file's rows, since a delivery whose
files are already loaded is not loaded again.
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
    result = subprocess.run(
        [str(PORTRAIT), *args], env=env, capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise RuntimeError(f"portrait {' '.join(args)}: {result.stderr.strip()[-600:]}")
    return result


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


def _quiet(settings: Settings, timeout: float = 900.0) -> None:
    """Wait until no DAG run is queued or running."""
    from portrait.orchestration.chain import PIPELINES
    from portrait.orchestration.client import AirflowClient

    client = AirflowClient(settings)
    deadline = time.monotonic() + timeout
    time.sleep(5)  # the scheduler's first loop
    while time.monotonic() < deadline:
        busy = [
            d for d in PIPELINES for r in client.runs(d, 5) if r["state"] in {"queued", "running"}
        ]
        if not busy:
            return
        time.sleep(2)


def run(
    settings: Settings, customers: int = 3_000, months: int = 8, repeats: int = 2
) -> list[Figure]:
    port = _port_block()
    env = {
        **os.environ,
        "PORTRAIT_HOME": str(settings.home),
        "PORTRAIT_SCHEDULER_PORT": str(port),
        "PORTRAIT_INBOX_POLL": "0 0 1 1 *",
    }
    env.pop("PORTRAIT_DATABASE_URL", None)
    settings = Settings(
        home=settings.home, database_url=None, scheduler_port=port, inbox_poll="0 0 1 1 *"
    )
    staged = settings.home / "deliveries"
    original = staged / "original"
    generate(original, customers=customers, months=months, seed=42)
    # warm: a first load, build and training, so that every side scores with champions
    _cli(env, "run", "--train", "--landing", str(original))
    copies = iter(range(1, 100))
    times: dict[str, list[float]] = {side: [] for side in ("cli", "in-process", "scheduler")}

    def redelivered() -> Path:
        """The same delivery as new files (its branches in another order): loaded again, as
        the CLI's `portrait ingest` loads the original again, replacing the batch with the
        same rows."""
        k = next(copies)
        folder = staged / f"copy-{k}"
        shutil.copytree(original, folder)
        header, *rows = (folder / "branches.csv").read_text().splitlines()
        rows = rows[k % len(rows) :] + rows[: k % len(rows)]
        (folder / "branches.csv").write_text("\n".join([header, *rows[::-1]]) + "\n")
        return folder

    def cli() -> None:
        _cli(env, "ingest", str(original))
        _cli(env, "build")
        _cli(env, "score")

    def in_process(folder: Path) -> None:
        _cli(env, "run", "--landing", str(folder))

    def scheduled(folder: Path) -> None:
        os.rename(folder, settings.inbox_dir / folder.name)  # a delivery arrives whole
        _cli(env, "run")  # triggers landing_ingest, follows the chain to campaign_feedback

    cli_times: dict[str, list[float]] = {"in-process": [], "scheduler": []}
    for _ in range(repeats):  # without the scheduler, portrait run uses dag.test()
        cli_times["in-process"].append(_timed(cli))
        folder = redelivered()
        times["in-process"].append(_timed(lambda f=folder: in_process(f)))
    ready = _timed(lambda: _cli(env, "scheduler", "start"))
    delays = []
    try:
        _quiet(settings)  # runs its first looks trigger (inbox, assets of the in-process runs)
        for _ in range(repeats):
            cli_times["scheduler"].append(_timed(cli))
            folder = redelivered()
            times["scheduler"].append(_timed(lambda f=folder: scheduled(f)))
            delays.append(_trigger_delay(settings))
    finally:
        _cli(env, "scheduler", "stop")
        shutil.rmtree(staged, ignore_errors=True)
    times["cli"] = cli_times["in-process"] + cli_times["scheduler"]
    ratio = {
        side: statistics.median(times[side]) / statistics.median(cli_times[side])
        for side in cli_times
    }
    detail = {
        "customers": customers,
        "months": months,
        **{f"{side}_seconds": [round(t, 1) for t in ts] for side, ts in times.items()},
        "note": "both Airflow paths also run campaign_feedback and measure drift after sliced scoring",
    }
    return [
        Figure(
            "orchestration tax: portrait scheduler / same steps by CLI",
            ratio["scheduler"],
            "ratio",
            "<= 1.3 (target 1.2)",
            detail,
        ),
        Figure(
            "orchestration tax: portrait run in-process (dag.test) / same steps by CLI",
            ratio["in-process"],
            "ratio",
            "<= 1.3 (target 1.2)",
            detail,
        ),
        Figure(
            "portrait scheduler start: all components healthy, DAGs active", ready, "s", "<= 30 s"
        ),
        Figure(
            "scheduler: trigger to first task start",
            statistics.median(delays),
            "s",
            "",
            {"seconds": [round(d, 2) for d in delays]},
        ),
    ]
