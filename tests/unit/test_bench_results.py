"""`make bench --only X` re-measures one benchmark and keeps the others' last figures."""

from __future__ import annotations

import json

from bench import common, report
from bench.common import Figure, write_results

DOC_BLOCK = "<!-- generated: results.json -->\nold\n<!-- end generated -->"


def test_performance_doc_shows_the_recorded_figures():
    """docs/performance.md's tables are the ones bench/results*.json give (`python -m bench.report`)."""
    text = report.DOC.read_text()
    assert len(report.BLOCK.findall(text)) == len(report.TABLES)
    assert report.render(text) == text, (
        "docs/performance.md is out of date: run `python -m bench.report`"
    )


def test_one_benchmark_rerun_replaces_its_figures_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "BENCH_DIR", tmp_path)
    write_results(
        [
            Figure("ingest / copy", 2.0, "ratio", "<= 1.5"),
            Figure("gates / sql", 2.04, "ratio", "<= 2"),
        ]
    )
    write_results([Figure("gates / sql", 1.14, "ratio", "<= 2")], merge=True)
    figures = {
        f["name"]: f["value"]
        for f in json.loads((tmp_path / "results.json").read_text())["figures"]
    }
    assert figures == {"ingest / copy": 2.0, "gates / sql": 1.14}
    table = report.render(DOC_BLOCK, tmp_path)
    assert "| gates / sql | 1.140 |" in table and "| ingest / copy | 2.000 |" in table
    # a whole run replaces everything
    write_results([Figure("gates / sql", 1.2, "ratio", "<= 2")])
    assert [f["name"] for f in json.loads((tmp_path / "results.json").read_text())["figures"]] == [
        "gates / sql"
    ]


def test_other_postgres_servers_are_found_by_their_data_directory(tmp_path):
    """A process that looks like a postmaster (argv[0] `postgres`, `-D <pgdata>`) is reported,
    unless its data directory lies under the benchmark's own home."""
    import subprocess
    import sys
    import time

    from bench.common import other_postgres_servers

    pgdata = tmp_path / "elsewhere" / "pgdata"
    fake = subprocess.Popen(
        ["postgres", "-c", "import time; time.sleep(60)", "-D", str(pgdata)],
        executable=sys.executable,
    )
    try:
        for _ in range(50):  # until the process shows its argv
            if str(pgdata) in other_postgres_servers():
                break
            time.sleep(0.1)
        assert str(pgdata) in other_postgres_servers()
        assert str(pgdata) not in other_postgres_servers(own=tmp_path / "elsewhere")
    finally:
        fake.kill()
        fake.wait()


def test_cpu_reads_wait_for_closing_backends_but_not_for_open_connections(monkeypatch):
    """Closing connections' server processes are waited for (their CPU moves to the postmaster's
    total when they exit); connections that stay open (a pool) are not: waiting for them took the
    whole timeout, inside every timed build."""
    import time

    none: set[str] = set()
    closing = iter([({"1", "2", "3"}, none), ({"1", "2"}, none), ({"1"}, none), (none, none)])
    monkeypatch.setattr(common, "_backends", lambda: next(closing))
    common._wait_for_client_backends_to_exit(timeout=5)
    assert next(closing, "drained") == "drained", "it read until the last backend had exited"

    polls = []
    monkeypatch.setattr(common, "_backends", lambda: polls.append(1) or ({"7", "8"}, none))
    began = time.monotonic()
    common._wait_for_client_backends_to_exit(timeout=5, settled=0.06)
    assert time.monotonic() - began < 1, "stable open connections end the wait"
    assert len(polls) >= 2

    # a process that is exiting (no title left) is waited for however long it stays the same
    exiting = iter([({"7"}, {"9"})] * 8 + [({"7"}, none)] * 100)
    polls.clear()
    monkeypatch.setattr(common, "_backends", lambda: polls.append(1) or next(exiting))
    common._wait_for_client_backends_to_exit(timeout=5, settled=0.06)
    assert len(polls) > 8, "it waited past the exiting process before settling on the open one"
