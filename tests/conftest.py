"""Shared fixtures: one real embedded PostgreSQL per test session, in a private PORTRAIT_HOME."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PORTRAIT_BIN = Path(sys.executable).with_name("portrait")


@pytest.fixture(scope="session")
def portrait_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A PORTRAIT_HOME for the whole session, so tests never touch the user's .portrait/."""
    home = tmp_path_factory.mktemp("portrait_home")
    previous = {k: os.environ.get(k) for k in ("PORTRAIT_HOME", "PORTRAIT_DATABASE_URL")}
    os.environ["PORTRAIT_HOME"] = str(home)
    os.environ.pop("PORTRAIT_DATABASE_URL", None)
    yield home
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def settings(portrait_home: Path) -> Settings:
    return Settings(home=portrait_home, database_url=None)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Settings]:
    """The embedded server, started and bootstrapped once; stopped at the end of the session."""
    warehouse.ensure_started(settings)
    yield settings
    warehouse.EmbeddedServer(settings).stop()


@pytest.fixture()
def owner_conn(database: Settings):
    with warehouse.connect(warehouse.owner_url(database), autocommit=True) as conn:
        yield conn


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the installed `portrait` command as a user would."""
    result = subprocess.run(
        [str(PORTRAIT_BIN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"portrait {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def cli_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = run_cli(*args, "--json", env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def own_warehouse(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Settings]:
    """A warehouse of a module's own (its embedded server stopped at the end)."""
    settings = Settings(home=tmp_path_factory.mktemp(f"{name}_home"), database_url=None)
    warehouse.ensure_started(settings)
    try:
        yield settings
    finally:
        warehouse.EmbeddedServer(settings).stop()


def two_deliveries(
    landing: Path, *, customers: int, months: int, seed: int
) -> tuple[Path, date, Path, date]:
    """One synthetic bank delivered as a bank sends it: every month but the last (first folder,
    dated the day before the last month), then the last month (dated its last day)."""
    from bench.bench_build import split_by_month
    from portrait.synth.generator import generate

    result = generate(landing / "all", customers=customers, months=months, seed=seed)
    end = date.fromisoformat(result.end_date)
    last = end.replace(day=1)
    split_by_month(landing / "all", str(last - timedelta(days=1)), "0001-01-01", landing / "first")
    split_by_month(landing / "all", str(end), str(last), landing / "second")
    return landing / "first", last - timedelta(days=1), landing / "second", end
