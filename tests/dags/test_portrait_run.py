"""`portrait run` executes the daily chain through Airflow itself, end to end, on small data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.synth.generator import generate

pytestmark = pytest.mark.integration
PORTRAIT = Path(sys.executable).with_name("portrait")


def test_portrait_run_publishes_marts_and_records_the_runs_in_airflow(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "PORTRAIT_HOME": str(home)}
    env.pop("PORTRAIT_DATABASE_URL", None)
    delivery = tmp_path / "delivery"
    generate(delivery, customers=1500, months=8, seed=3)
    began = datetime.now(UTC)
    try:
        result = subprocess.run(
            [str(PORTRAIT), "run", "--train", "--landing", str(delivery), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)  # one JSON object: Airflow's logs go to the log file
        assert report["mode"] == "in-process" and not report["nothing_new"]
        assert result.stderr == ""  # quiet: Airflow's, dbt's and GX's lines are in the log
        log = Path(report["log"]).read_text()
        assert "portrait_raw_batch" in log or "landing_ingest" in log
        # skops' lookups in Airflow's modules made 1,160 deprecation warnings per run
        assert "skops/io/_utils.py" not in log
        states = {(t["dag_id"], t["task_id"]): t["state"] for t in report["tasks"]}
        assert states[("landing_ingest", "ingest")] == "success"
        assert states[("warehouse_build", "build")] == "success"
        assert states[("warehouse_build", "snapshots")] == "success"
        assert all(s == "success" for s in states.values()), states
        assert {t for d, t in states if d == "ml_training"} == {
            "models",
            "train[0]",
            "train[1]",
            "train[2]",
        }
        assert (
            len([t for d, t in states if d == "customer_scoring" and t.startswith("score[")]) >= 2
        )
        assert states[("customer_scoring", "marketing_marts")] == "success"
        assert states[("campaign_feedback", "evaluate_outcomes")] == "success"
        settings = Settings(home=home, database_url=None)
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            assert conn.execute("select count(*) from marts.customer_portrait").fetchone()[0] > 0
            scored = dict(
                conn.execute(
                    "select model_name, count(*) from ml.customer_scores group by 1"
                ).fetchall()
            )
            assert scored.get("churn_risk", 0) > 0 and scored.get("customer_segmentation", 0) > 0
            assert (
                conn.execute(
                    "select count(*) from marts.customer_segments where ml_cluster is not null"
                ).fetchone()[0]
                > 0
            )
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            as_of, seconds = conn.execute(
                "select as_of_date, build_seconds from dq.publications order by published_at desc limit 1"
            ).fetchone()
        assert as_of is not None and seconds > 0  # the build's as-of date and time recorded
        runs = subprocess.run(
            [str(PORTRAIT), "airflow", "--", "dags", "list-runs", "warehouse_build", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert runs.returncode == 0, runs.stderr[-2000:]
        (run,) = json.loads(runs.stdout)  # JSON alone on stdout
        assert run["state"] == "success"
        # the run's real times, not a logical date months before
        assert datetime.fromisoformat(run["start_date"]) >= began
        assert datetime.fromisoformat(run["end_date"]) > datetime.fromisoformat(run["start_date"])
        # asset events on the warehouse at 127.0.0.1: one per published table (publish), one per
        # snapshot table (Cosmos, through OpenLineage's dbt processor)
        port = urlsplit(warehouse.owner_url(settings)).port
        listed = subprocess.run(
            [str(PORTRAIT), "airflow", "--", "assets", "list", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert listed.returncode == 0, listed.stderr[-2000:]
        uris = {a["uri"] for a in json.loads(listed.stdout)}
        base = f"postgres://127.0.0.1:{port}/portrait"
        assert f"{base}/marts/customer_portrait" in uris, sorted(uris)

        # the same delivery again: nothing new, nothing after the ingest runs
        again = subprocess.run(
            [str(PORTRAIT), "run", "--landing", str(delivery), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert again.returncode == 0, again.stderr[-3000:]
        second = json.loads(again.stdout)
        assert second["nothing_new"] and [d["dag_id"] for d in second["dags"]] == ["landing_ingest"]
    finally:
        warehouse.EmbeddedServer(Settings(home=home, database_url=None)).stop()
