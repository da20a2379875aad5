"""Under ingests that land while a build runs, batches dropped and a batch replaced mid-build, the
published marts are always either the old state or the complete new one, and the next build
reaches the state of a clean build. One bank delivered as months 1-3 (A) and month 4 (B), real
ingest, dbt and PostgreSQL, builds and ingests on real threads of this process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from portrait import warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.ingest import batches
from portrait.ingest.api import ingest
from portrait.ingest.loader import batch_id_for
from tests.conftest import own_warehouse, run_cli, two_deliveries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MARTS = ("fct_transactions", "fct_balances_monthly", "customer_contribution", "customer_segments",
         "segment_migration", "customer_portrait", "customer_tags", "marketing_triggers")  # fmt: skip


def _digest(settings: Settings) -> dict[str, str]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return {
            t: conn.execute(
                "select count(*) || ':' || md5(coalesce(string_agg(r, '|' order by r), '')) from "
                f"(select (to_jsonb(t) - 'ingested_at' - 'loaded_at')::text as r from marts.{t} t) rows"
            ).fetchone()[0]
            for t in MARTS
        }  # the load times differ from one delivery of B to the next


def _published_batches(settings: Settings) -> list[str]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        latest = conn.execute(
            "select batches from dq.publications order by published_at desc limit 1"
        ).fetchone()[0]
    return sorted(latest)


class Bank:
    def __init__(self, settings: Settings, a: Path, a_date: date, b: Path, b_date: date) -> None:
        self.settings, self.a, self.a_date, self.b, self.b_date = settings, a, a_date, b, b_date
        self.a_id = batch_id_for("synthetic", a_date)
        self.b_id = batch_id_for("synthetic", b_date)

    def ingest_b(self, progress: Callable | None = None) -> None:
        ingest(self.b, batch_date=self.b_date, settings=self.settings, progress=progress)

    def back_to_a(self, clean_a: dict[str, str]) -> None:
        """Drop B and build: the marts equal a warehouse that never saw B."""
        batches.drop(self.settings, self.b_id)
        report = build(settings=self.settings)
        assert "dropped" in (report.full_refresh_reason or ""), report.full_refresh_reason
        assert _digest(self.settings) == clean_a


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Iterator[Bank]:
    with own_warehouse(tmp_path_factory, "consistency") as settings:
        deliveries = two_deliveries(
            tmp_path_factory.mktemp("consistency_landing"), customers=300, months=4, seed=17
        )
        yield Bank(settings, *deliveries)


@pytest.fixture(scope="module")
def clean(bank: Bank) -> dict[str, dict[str, str]]:
    """The marts of a clean build of A, then of A and B (a full rebuild of both)."""
    ingest(bank.a, batch_date=bank.a_date, settings=bank.settings)
    build(settings=bank.settings)
    a = _digest(bank.settings)
    bank.ingest_b()
    build(settings=bank.settings, full_refresh=True)
    ab = _digest(bank.settings)
    assert a != ab
    bank.back_to_a(a)
    return {"a": a, "ab": ab}


def _build_in_thread(settings: Settings, on_line: Callable[[str], None] = lambda _l: None):
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = build(settings=settings, progress=on_line)
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _then_the_next_build_takes_b(bank: Bank, clean) -> None:
    report = build(settings=bank.settings)
    assert report.published and _digest(bank.settings) == clean["ab"]
    assert _published_batches(bank.settings) == [bank.a_id, bank.b_id]
    bank.back_to_a(clean["a"])


def test_a_build_that_starts_while_b_loads_publishes_a_alone(bank: Bank, clean):
    cut_taken = threading.Event()
    started: list = []

    def during_ingest(*_args) -> None:  # B is registered and loading: start a build, let it cut
        if started:
            return
        thread, outcome = _build_in_thread(bank.settings, lambda line: cut_taken.set())
        started.append((thread, outcome))
        assert cut_taken.wait(120), "the build did not start"

    bank.ingest_b(progress=during_ingest)
    thread, outcome = started[0]
    thread.join(600)
    assert "error" not in outcome, outcome.get("error")
    assert _digest(bank.settings) == clean["a"]
    assert _published_batches(bank.settings) == [bank.a_id]
    _then_the_next_build_takes_b(bank, clean)


@pytest.mark.parametrize("moment", ["dbt build", "marts gate", "publishing"])
def test_b_landing_at_any_moment_of_a_build_is_left_whole_for_the_next(
    bank: Bank, clean, moment: str
):
    ingested = threading.Event()

    def on_line(line: str) -> None:  # B loads completely at this moment of the build
        if line.startswith(moment) and not ingested.is_set():
            bank.ingest_b()
            ingested.set()

    thread, outcome = _build_in_thread(bank.settings, on_line)
    thread.join(600)
    assert ingested.is_set(), f"the build never said {moment!r}"
    assert "error" not in outcome, outcome.get("error")
    assert _digest(bank.settings) == clean["a"]
    assert _published_batches(bank.settings) == [bank.a_id]
    _then_the_next_build_takes_b(bank, clean)


def test_a_batch_replaced_during_a_build_publishes_nothing_and_the_next_build_is_exact(bank, clean):
    before = _digest(bank.settings)

    def on_line(line: str) -> None:
        if line.startswith("dbt build") and not replaced:
            ingest(bank.a, batch_date=bank.a_date, settings=bank.settings)  # A delivered again
            replaced.append(True)

    replaced: list = []
    thread, outcome = _build_in_thread(bank.settings, on_line)
    thread.join(600)
    assert isinstance(outcome.get("error"), batches.BatchesChanged), outcome
    assert bank.a_id in str(outcome["error"]) and _digest(bank.settings) == before
    report = build(settings=bank.settings)
    assert report.full_refresh_reason and _digest(bank.settings) == clean["a"]


def _leftovers(settings: Settings) -> int:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(
            "select count(*) from pg_tables where schemaname = 'raw' "
            "and tablename like '\\_load\\_%'"
        ).fetchone()[0]


def test_a_killed_ingest_is_recorded_as_abandoned_and_its_leftovers_removed(bank: Bank, clean):
    # killed as its fourth file loads: the first files' staging tables are committed by then
    code = (
        "import os, signal; from datetime import date; from pathlib import Path\n"
        "from portrait.config import Settings; from portrait.ingest.api import ingest\n"
        "seen = set()\n"
        "def stop(table, *_a):\n"
        "    seen.add(table)\n"
        "    if len(seen) >= 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"ingest(Path({str(bank.b)!r}), batch_date=date.fromisoformat({bank.b_date.isoformat()!r}), "
        f"settings=Settings(home=Path({str(bank.settings.home)!r}), database_url=None), progress=stop)"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _leftovers(bank.settings) > 0
    deadline = time.monotonic() + 30  # until the server has noticed the lost connection
    while batches.listing(bank.settings) and time.monotonic() < deadline:
        rows = {r.batch_id: r for r in batches.listing(bank.settings)}
        if "running" not in rows[bank.b_id].status:
            break
        time.sleep(0.2)
    assert "abandoned" in rows[bank.b_id].status, rows[bank.b_id]
    assert _leftovers(bank.settings) == 0
    build(settings=bank.settings)  # nothing of B
    assert _digest(bank.settings) == clean["a"]


def test_batches_list_and_drop_from_the_command_line(bank: Bank, clean):
    env = {"PORTRAIT_HOME": str(bank.settings.home), "PORTRAIT_DATABASE_URL": ""}
    listed = json.loads(run_cli("batches", "list", "--json", env=env, check=True).stdout)["batches"]
    by_id = {b["batch_id"]: b for b in listed}
    assert by_id[bank.a_id]["status"] == "loaded" and by_id[bank.a_id]["published"]
    assert by_id[bank.a_id]["rows_loaded"] > 0 and by_id[bank.a_id]["attempts"] >= 1
    refused = run_cli("batches", "drop", "synthetic-19990101", env=env)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert "no loaded batch 'synthetic-19990101'" in lines[0] and bank.a_id in lines[0]


def test_bi_sees_only_marts_and_dq_at_every_moment_of_a_build(bank: Bank, clean):
    """BI tools browse information_schema: the build schema's tables never appear in it."""
    seen: dict[str, set[str]] = {}

    def look(line: str) -> None:
        with warehouse.connect(warehouse.bi_url(bank.settings)) as conn:
            seen[line] = {
                r[0]
                for r in conn.execute(
                    "select distinct table_schema from information_schema.tables "
                    "where table_schema not in ('pg_catalog', 'information_schema')"
                ).fetchall()
            }

    build(settings=bank.settings, progress=look)
    assert len(seen) > 20 and any(line.startswith("marts gate") for line in seen)
    assert {schema for schemas in seen.values() for schema in schemas} == {"marts", "dq"}
