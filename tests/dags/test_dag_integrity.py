"""DAG integrity with a real DagBag (in a subprocess: Airflow reads its configuration at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from portrait.config import Settings
from portrait.orchestration.env import airflow_env, prepare_airflow_home

PROBE = """
import json
import os
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
out = {"errors": {k: str(v)[-500:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "file": dag.fileloc.rsplit("/", 1)[-1],
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "retries": sorted({t.retries for t in dag.tasks}),
        "timeouts": sorted({str(t.execution_timeout) for t in dag.tasks}),
        "callbacks": all(t.on_failure_callback for t in dag.tasks),
        "doc": bool(dag.doc_md),
        "tasks": sorted(t.task_id for t in dag.tasks),
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    # parsing needs no metadata database: SQLite here, so that no server is started for it
    home = tmp_path_factory.mktemp("airflow_home")
    settings = Settings(home=home, database_url=None)
    env = airflow_env(
        settings,
        {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"},
    )
    prepare_airflow_home(settings, env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dag_imports(dagbag):
    assert dagbag["errors"] == {}
    assert {
        "landing_ingest",
        "warehouse_build",
        "ml_training",
        "customer_scoring",
        "campaign_feedback",
    } <= set(dagbag["dags"])


def test_file_name_is_the_dag_id(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert dag["file"] == f"{dag_id}.py"


def test_dags_are_tagged_documented_and_do_not_catch_up(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert "portrait" in dag["tags"], dag_id
        assert dag["doc"], dag_id
        assert dag["catchup"] is False, dag_id


def test_every_task_retries_times_out_and_logs_failures(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert min(dag["retries"]) >= 2, dag_id
        assert "None" not in dag["timeouts"], dag_id
        assert dag["callbacks"], dag_id


def test_each_dag_has_the_tasks_its_pipeline_declares(dagbag):
    from portrait.orchestration.chain import PIPELINES

    assert set(dagbag["dags"]) == set(PIPELINES)
    for dag_id, pipeline in PIPELINES.items():
        assert dagbag["dags"][dag_id]["tasks"] == sorted(s.task_id for s in pipeline.steps)


def test_the_warehouse_build_task_runs_the_same_function_as_portrait_build():
    from portrait.build import publish_build
    from portrait.orchestration.chain import PIPELINES, function

    steps = PIPELINES["warehouse_build"].steps
    assert [s.task_id for s in steps] == ["build", "snapshots"]
    source = function(steps[0]).__code__.co_names
    assert "publish_build" in source and publish_build.__module__ == "portrait.build"
