"""Failure injection through Airflow: a failing task stops its downstream tasks, the published
marts stay exactly as they were, and a clean re-run of the same day succeeds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.synth.generator import generate

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PORTRAIT = Path(sys.executable).with_name("portrait")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTRAIT), "run", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_a_failing_dbt_task_stops_downstream_keeps_the_marts_and_a_clean_rerun_succeeds(
    tmp_path: Path,
):
    home, project = tmp_path / "home", tmp_path / "project"
    for part in ("dags", "dbt_project"):
        shutil.copytree(
            REPO / part,
            project / part,
            ignore=shutil.ignore_patterns("target", "logs", "__pycache__"),
        )
    env = {
        **os.environ,
        "PORTRAIT_HOME": str(home),
        "PORTRAIT_PROJECT_DIR": str(project),
        "PORTRAIT_RETRY_DELAY_SECONDS": "1",
    }
    env.pop("PORTRAIT_DATABASE_URL", None)
    settings = Settings(home=home, project_dir=project, database_url=None)
    first_delivery, second_delivery = tmp_path / "first", tmp_path / "second"
    generate(first_delivery, customers=250, months=3, seed=4)
    # the same day redelivered, with the same rows in another order: new files, the same data
    shutil.copytree(first_delivery, second_delivery)
    header, *rows = (second_delivery / "branches.csv").read_text().splitlines()
    (second_delivery / "branches.csv").write_text("\n".join([header, *reversed(rows)]) + "\n")
    digest = "select md5(string_agg(t::text, '|' order by t::text)) from marts.customer_portrait t"
    try:
        first = _run(env, "--landing", str(first_delivery))
        assert first.returncode == 0, first.stderr[-3000:]
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            before = conn.execute(digest).fetchone()[0]
            publications = conn.execute("select count(*) from dq.publications").fetchone()[0]

        boom = project / "dbt_project" / "models" / "marts" / "core" / "injected_failure.sql"
        boom.write_text("select 1 / 0 as division_by_zero\n")  # fails at run time, in the build
        broken = _run(env, "--landing", str(second_delivery))
        assert broken.returncode != 0
        assert "failed at task build: model injected_failure error" in broken.stderr, broken.stderr[
            -2000:
        ]
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            assert conn.execute(digest).fetchone()[0] == before, "published marts unchanged"
            assert (
                conn.execute("select count(*) from dq.publications").fetchone()[0] == publications
            )
        states = subprocess.run(
            [
                str(PORTRAIT),
                "airflow",
                "--",
                "tasks",
                "states-for-dag-run",
                "warehouse_build",
                _latest_run(env),
                "-o",
                "json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert states.returncode == 0, states.stderr[-2000:]
        by_task = {row["task_id"]: row["state"] for row in json.loads(states.stdout)}
        assert by_task == {"build": "failed", "snapshots": "upstream_failed"}

        boom.unlink()
        fixed = _run(env)  # no new delivery, but a batch waits for publication: built again
        assert fixed.returncode == 0, fixed.stderr[-3000:]
        report = json.loads(fixed.stdout)
        assert {(t["dag_id"], t["task_id"]): t["state"] for t in report["tasks"]}[
            ("warehouse_build", "build")
        ] == "success"
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            assert (
                conn.execute("select count(*) from dq.publications").fetchone()[0]
                == publications + 1
            )
            assert conn.execute(digest).fetchone()[0] == before, "the same day gives the same marts"
            # a rebuild request (left by a CLI build whose landing gate refused a batch): the
            # DAG's dbt task rebuilds the incremental tables, and publishing answers the request
            table = "select 'intermediate.int_transactions_deduplicated'::regclass::oid"
            rebuilt_from = conn.execute(table).fetchone()[0]
            conn.execute(
                "insert into dq.rebuild_requests (reason, requested_at) values ('test', now() - interval '1 minute')"
            )
            conn.commit()
        rebuilt = _run(env)  # no new delivery, but a rebuild request: built again, from raw
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            assert conn.execute(table).fetchone()[0] != rebuilt_from
            assert conn.execute("select count(*) from dq.rebuild_requests").fetchone()[0] == 0
            assert conn.execute(digest).fetchone()[0] == before
    finally:
        warehouse.EmbeddedServer(settings).stop()


def _latest_run(env: dict[str, str]) -> str:
    runs = subprocess.run(
        [str(PORTRAIT), "airflow", "--", "dags", "list-runs", "warehouse_build", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = json.loads(runs.stdout)
    return max(rows, key=lambda r: r.get("start_date") or r.get("logical_date") or "")["run_id"]
