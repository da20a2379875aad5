"""The embedded PostgreSQL: lifecycle, crash recovery, external-URL mode (all on real servers)."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import DatabaseError
from tests.conftest import cli_json, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture()
def private_server(tmp_path: Path):
    """A second, throw-away embedded server so lifecycle tests never disturb the session one."""
    settings = Settings(home=tmp_path / "home", database_url=None)
    warehouse.ensure_started(settings)
    yield settings
    warehouse.EmbeddedServer(settings).stop()


def _count(settings: Settings, query: str) -> int:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query).fetchone()[0]


def test_start_twice_is_a_no_op_on_the_same_port(private_server: Settings):
    before = warehouse.status(private_server)
    assert before.running and before.host == "127.0.0.1"
    assert warehouse.ensure_started(private_server) is False
    after = warehouse.status(private_server)
    assert (after.pid, after.port) == (before.pid, before.port)


def test_data_survives_stop_and_start_and_port_is_kept(private_server: Settings):
    with warehouse.connect(warehouse.owner_url(private_server), autocommit=True) as conn:
        conn.execute("create table raw.survivor as select generate_series(1, 1000) as n")
    port = warehouse.status(private_server).port
    assert warehouse.stop(private_server) is True
    assert warehouse.status(private_server).running is False
    assert warehouse.stop(private_server) is False
    assert warehouse.ensure_started(private_server) is True
    assert warehouse.status(private_server).port == port
    assert _count(private_server, "select count(*) from raw.survivor") == 1000


def test_start_recovers_after_the_postmaster_is_killed(private_server: Settings):
    server = warehouse.EmbeddedServer(private_server)
    old_pid = server.running_pid()
    server.kill()
    assert warehouse.status(private_server).running is False
    assert (private_server.pgdata / "postmaster.pid").exists(), (
        "a killed server leaves its pid file"
    )
    assert warehouse.ensure_started(private_server) is True
    assert server.running_pid() not in (None, old_pid)
    assert _count(private_server, "select count(*) from pg_namespace where nspname = 'marts'") == 1


def test_server_settings_are_applied(private_server: Settings):
    with warehouse.connect(warehouse.owner_url(private_server)) as conn:
        shown = {
            name: conn.execute(f"show {name}").fetchone()[0]
            for name in ("shared_buffers", "work_mem", "jit", "listen_addresses", "TimeZone")
        }
    assert shown == {
        "shared_buffers": "512MB",
        "work_mem": "64MB",
        "jit": "off",
        "listen_addresses": "127.0.0.1",
        "TimeZone": "UTC",
    }


def test_the_warehouse_sorts_text_by_code_point_with_the_builtin_locale(database: Settings):
    """PostgreSQL's own C.UTF-8 (memcmp, abbreviated keys), not the C library's (strcoll)."""
    with warehouse.connect(warehouse.owner_url(database)) as conn:
        locale = conn.execute(
            "select datlocprovider, datlocale from pg_database where datname = current_database()"
        ).fetchone()
        ordered = conn.execute(
            "select array_agg(v order by v) from unnest(array['b', 'B', 'é', 'z', 'a']) v"
        ).fetchone()[0]
        cased = conn.execute("select upper('é')").fetchone()[0]
    assert locale == ("b", "C.UTF-8")
    assert ordered == ["B", "a", "b", "z", "é"] and cased == "É"


def test_secrets_are_private_files(private_server: Settings):
    files = sorted(private_server.secrets_dir.glob("*.password"))
    assert {f.stem for f in files} == {"postgres", "portrait", "portrait_bi"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_external_url_mode_uses_that_server_and_never_starts_one(
    private_server: Settings, tmp_path: Path
):
    external_url = warehouse.owner_url(private_server)
    home = tmp_path / "other_home"
    env = {"PORTRAIT_HOME": str(home), "PORTRAIT_DATABASE_URL": external_url}
    payload = cli_json("db", "start", env=env)
    assert payload["mode"] == "external"
    assert payload["port"] == warehouse.status(private_server).port
    assert not (home / "pgdata").exists(), "external mode must never create an embedded server"
    stopped = run_cli("db", "stop", env=env)
    assert stopped.returncode != 0 and "PORTRAIT_DATABASE_URL is set" in stopped.stderr
    assert warehouse.status(private_server).running, (
        "stop in external mode must not touch the server"
    )


def test_cli_reports_an_unreachable_server_on_one_line(tmp_path: Path):
    env = {
        "PORTRAIT_HOME": str(tmp_path),
        "PORTRAIT_DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/db",
    }
    result = run_cli("db", "start", env=env)
    assert result.returncode == DatabaseError.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to the warehouse" in lines[0] and "Traceback" not in result.stderr
    assert "secret" not in result.stderr, "passwords must never be printed"


def test_db_url_for_the_bi_role_connects_as_that_role(database: Settings):
    url = cli_json("db", "url", "--role", "bi")["url"]
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "portrait_bi"


def test_airflow_cli_runs_with_the_project_home_and_migrated_metadata(database: Settings):
    settings = database
    result = run_cli("airflow", "--", "config", "get-value", "core", "dags_folder")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("/dags")
    assert any(settings.airflow_home.glob(".migrated-*")), "the metadata database is migrated once"
    # metadata on the warehouse's server, in a database of its own, owned by the pipeline owner
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        owner = conn.execute(
            "select pg_get_userbyid(datdba) from pg_database where datname = 'airflow'"
        ).fetchone()
    assert owner == (warehouse.OWNER_ROLE,)
    assert not (settings.airflow_home / "airflow.db").exists()
