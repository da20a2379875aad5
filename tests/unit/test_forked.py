"""A gate run in a forked child: its result, its Data Docs and its errors reach this process."""

from __future__ import annotations

import os
import threading
import time

import pytest
from portrait.expectations.gates import CheckResult, GateFailed, GateResult

from portrait import forked
from portrait.errors import PortraitError


def _result(write=lambda: None) -> GateResult:
    """A failed gate's result, its Data Docs being written by ``write`` in a thread."""
    result = GateResult(run_id="landing-1", stage="landing", seconds=1.5)
    result.checks.append(
        CheckResult(
            suite="landing.products",
            table="raw.products",
            expectation="in_set",
            column="family",
            severity="critical",
            success=False,
            unexpected_count=1,
            observed=None,
            sample=["spaceship"],
        )
    )

    def docs() -> None:
        try:
            write()
        except OSError as err:
            result._docs_error = err

    result._docs = threading.Thread(target=docs)
    result._docs.start()
    return result


def test_the_childs_result_arrives_before_its_docs_and_finish_docs_waits_for_them(tmp_path):
    written = tmp_path / "docs-written"

    def write() -> None:
        time.sleep(0.5)
        written.write_text(str(os.getpid()))

    result = forked.ForkedGate(lambda: _result(write), name="landing gate").result()
    assert result.run_id == "landing-1" and result.checks[0].sample == ["spaceship"]
    assert not result.success
    assert not written.exists(), "the verdict comes before the Data Docs"
    result.finish_docs()
    assert written.read_text() != str(os.getpid()), "written by the child"


def test_an_error_writing_the_childs_docs_reaches_finish_docs():
    def full() -> None:
        raise OSError("disk full")

    result = forked.ForkedGate(lambda: _result(full)).result()
    with pytest.raises(OSError, match="disk full"):
        result.finish_docs()


def test_what_the_gate_raises_in_the_child_is_raised_here():
    def refused():
        raise GateFailed(
            "landing gate failed: suite landing.products", where="raw.products", rule="in_set"
        )

    with pytest.raises(GateFailed) as info:
        forked.ForkedGate(refused).result()
    assert info.value.where == "raw.products" and "landing.products" in info.value.line()

    class Unpicklable(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    def odd():
        raise Unpicklable("x", "y")

    with pytest.raises(PortraitError, match="Unpicklable: x/y"):
        forked.ForkedGate(odd).result()


def test_a_child_that_dies_without_a_verdict_is_an_error_not_a_hang():
    with pytest.raises(PortraitError, match=r"ended without a verdict.*exit status 3"):
        forked.ForkedGate(lambda: os._exit(3), name="landing gate").result()
    assert forked.ForkedGate(lambda: None).result() is None


def test_forking_needs_a_single_thread():
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert forked.can_fork() is False
    finally:
        release.set()
        other.join()
