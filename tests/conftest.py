"""Shared fixtures: one real embedded PostgreSQL per test session, in a private PORTRAIT_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
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
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"portrait {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def cli_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = run_cli(*args, "--json", env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
