"""`portrait demo` end to end on small data, then again: the second finds nothing to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PORTRAIT = Path(sys.executable).with_name("portrait")


def _demo(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [str(PORTRAIT), "demo", "--customers", "1500", "--months", "8", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # Airflow's, dbt's and GX's lines are in the demo's log file
    return json.loads(result.stdout)


def test_a_second_demo_finds_the_delivery_loaded_and_trains_nothing(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "PORTRAIT_HOME": str(home)}
    env.pop("PORTRAIT_DATABASE_URL", None)
    try:
        first = _demo(env)
        assert {m["model"] for m in first["models"] if m["champion"]} >= {
            "response_propensity",
            "churn_risk",
            "customer_segmentation",
        }
        assert first["tables"]["marts.campaign_target_list"] > 0
        assert Path(first["dbt_docs"]).is_file() and first["data_quality"].split(":")[0] in {
            "OK",
            "WARN",
        }
        second = _demo(env)
        details = {s["step"]: s["detail"] for s in second["steps"]}
        assert details["generate"].startswith("unchanged")
        assert details["run"].startswith("unchanged"), details
        assert details["train+score"].startswith("unchanged"), details
        assert details["docs"].startswith("unchanged"), details
        versions = lambda report: {m["model"]: m["champion"] for m in report["models"]}  # noqa: E731
        assert versions(second) == versions(first)  # no model retrained
        assert second["tables"] == first["tables"]
        settings = Settings(home=home, database_url=None)
        with warehouse.connect(warehouse.owner_url(settings)) as conn:
            assert conn.execute("select count(*) from dq.publications").fetchone()[0] == 1
    finally:
        warehouse.EmbeddedServer(Settings(home=home, database_url=None)).stop()
