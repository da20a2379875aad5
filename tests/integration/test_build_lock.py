"""One build at a time: a second build is refused at once (or after --wait) with one line naming
the build that holds the warehouse."""

from __future__ import annotations

import os
import time

import pytest

from portrait.build_lock import BuildBusy, held
from portrait.config import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def test_a_second_build_is_refused_naming_the_one_that_runs(database: Settings):
    with held(database):
        refused = run_cli("build")
        assert refused.returncode == 4, refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("portrait: error: another build is running: portrait-build-lock")
        assert f"pid={os.getpid()}" in line and "--wait" in line
        began = time.monotonic()
        waited = run_cli("build", "--wait", "2")
        assert waited.returncode == 4 and time.monotonic() - began >= 2


def test_the_lock_is_reentrant_in_a_thread_and_free_once_released(database: Settings):
    with held(database), held(database):  # the CLI's build holds it around the DAG's steps
        pass
    with held(database):  # released: taken again at once
        pass


def test_a_build_in_another_session_waits_then_gives_up(database: Settings):
    import threading

    outcome: list[BaseException] = []

    def contender() -> None:
        try:
            with held(database, wait=0.5):
                pass
        except BuildBusy as err:
            outcome.append(err)

    with held(database):
        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
    assert len(outcome) == 1 and "another build is running" in outcome[0].line()
