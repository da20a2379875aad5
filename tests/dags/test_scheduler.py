"""The real scheduler, end to end: `portrait scheduler start`, a delivery dropped into the inbox,
a trigger with no logical date, the asset chain to the scored marts, and a clean stop."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.synth.generator import generate
from portrait.warehouse import port_is_free

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PORTRAIT = Path(sys.executable).with_name("portrait")
CHAIN = ("warehouse_build", "customer_scoring", "campaign_feedback")


def _free_port_block() -> int:
    """A port whose three successors are free too (the API server, log, health servers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(port_is_free(port + i) for i in range(4)):
            return port
    raise RuntimeError("no free port block")


def _cli(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTRAIT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _digest(settings: Settings) -> str:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(
            "select md5(string_agg(t::text, '|' order by t::text)) from marts.customer_portrait t"
        ).fetchone()[0]


def test_the_scheduler_runs_a_dropped_delivery_through_every_dag_and_stops_clean(tmp_path: Path):
    from portrait.orchestration import scheduler
    from portrait.orchestration.client import AirflowClient
    from portrait.orchestration.runner import _appeared, _finished

    home = tmp_path / "home"
    port = _free_port_block()
    env = {
        **os.environ,
        "PORTRAIT_HOME": str(home),
        "PORTRAIT_SCHEDULER_PORT": str(port),
        "PORTRAIT_RETRY_DELAY_SECONDS": "1",
    }
    env.pop("PORTRAIT_DATABASE_URL", None)
    settings = Settings(home=home, database_url=None, scheduler_port=port)
    delivery = tmp_path / "bank"
    generate(delivery, customers=300, months=3, seed=5)
    try:
        started = _cli(env, "scheduler", "start", "--json")
        assert started.returncode == 0, started.stderr[-3000:]
        state = json.loads(started.stdout)
        assert state["healthy"] and state["password"], state
        assert set(state["dags"].values()) == {"active"}, state["dags"]
        assert (home / "secrets" / "airflow-passwords.json").stat().st_mode & 0o777 == 0o600

        client = AirflowClient(settings)
        # the inbox's first look, at start, finds it empty: nothing triggered
        first_look = _finished(client, "landing_ingest", _appeared(client, "landing_ingest", None))
        assert first_look["state"] == "success" and not client.runs("warehouse_build")

        shutil.copytree(delivery, settings.inbox_dir / "first")
        # Airflow 3's own trigger: no logical date
        triggered = _cli(env, "airflow", "--", "dags", "trigger", "landing_ingest", "-o", "json")
        assert triggered.returncode == 0, triggered.stderr[-2000:]
        run = json.loads(triggered.stdout)[0]
        ingest_run = _finished(client, "landing_ingest", run["dag_run_id"])
        assert ingest_run["state"] == "success"
        since = ingest_run["start_date"]
        for dag_id in CHAIN:
            run_id = _appeared(client, dag_id, since)
            finished = _finished(client, dag_id, run_id)
            assert finished["state"] == "success", (dag_id, finished)
            assert finished["run_type"] == "asset_triggered"
            since = finished["start_date"]

        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            as_of, seconds, batch = conn.execute(
                "select p.as_of_date, p.build_seconds, (select max(batch_date) from dq.ingest_batches) "
                "from dq.publications p order by published_at desc limit 1"
            ).fetchone()
        assert as_of == batch and seconds > 0
        scheduled = _digest(settings)

        # the same delivery again, under another name: loaded once, nothing rebuilt
        shutil.copytree(delivery, settings.inbox_dir / "again")
        again = _cli(env, "run", "--json")
        assert again.returncode == 0, again.stderr[-3000:]
        report = json.loads(again.stdout)
        assert report["mode"] == "scheduler" and report["nothing_new"] is True
        assert [d["dag_id"] for d in report["dags"]] == ["landing_ingest"]
        assert (settings.inbox_dir / "_loaded" / "again").is_dir()

        status = _cli(env, "scheduler", "status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["healthy"]
    finally:
        stopped = _cli(env, "scheduler", "stop", "--json")
        pids = [c.pid for c in scheduler.status(settings).components]
    assert stopped.returncode == 0, stopped.stderr
    assert pids == [None] * 4 and all(port_is_free(port + i) for i in range(4))
    assert not list((home / "airflow" / "pids").glob("*.pid"))

    # the CLI builds the same delivery into the same marts
    built = _cli(env, "build", "--json")
    try:
        assert built.returncode == 0, built.stderr[-3000:]
        assert _digest(settings) == scheduled
    finally:
        warehouse.EmbeddedServer(settings).stop()
