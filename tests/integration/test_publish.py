"""Write-Audit-Publish: gates stop a bad build before it is published; BI keeps the last good marts."""

from __future__ import annotations

import csv
import functools
import shutil
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from portrait.expectations.gates import GateFailed, data_docs_dir

from portrait import forked, warehouse
from portrait.build import build
from portrait.config import Settings
from portrait.gates_beside import run_landing_gate
from portrait.ingest.api import ingest
from portrait.ingest.batches import take_cut
from portrait.synth.generator import generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Settings, Path]:
    home = tmp_path_factory.mktemp("wap_home")
    settings = Settings(home=home, database_url=None)
    warehouse.ensure_started(settings)
    landing = tmp_path_factory.mktemp("wap_landing")
    generate(landing, customers=300, months=3, seed=9)
    ingest(landing, settings=settings)
    report = build(settings=settings)
    assert report.published
    yield settings, landing
    warehouse.EmbeddedServer(settings).stop()


def _one(settings: Settings, query: str, *params):
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchone()


def _marts_digest(settings: Settings) -> str:
    return _one(
        settings,
        "select md5(string_agg(t::text, '|' order by t::text)) from marts.customer_portrait t",
    )[0]


def test_a_published_build_records_both_gates_and_a_watermark(published):
    settings, _ = published
    stages = _one(
        settings, "select array_agg(distinct stage order by stage) from dq.validation_results"
    )[0]
    assert stages == ["landing", "marts"]
    watermark = _one(settings, "select max(transactions_through) from dq.publications")[0]
    assert watermark is not None
    visible, total = _one(
        settings,
        "select (select count(*) from marts.fct_transactions), "
        "(select count(*) from intermediate.int_transactions_deduplicated)",
    )
    assert visible == total > 0


def test_the_gate_records_what_its_table_checks_observed(published):
    """Governance reads the observed row count and columns of passing table-level checks."""
    settings, _ = published
    count, columns = _one(
        settings,
        (
            "select max(observed) filter (where expectation = 'expect_table_row_count_to_be_between'), "
            "max(observed) filter (where expectation = 'expect_table_columns_to_match_set') "
            "from dq.validation_results where stage = 'landing' and suite = 'landing.customers' and success"
        ),
    )
    loaded = _one(settings, "select count(*) from raw.customers")[0]
    assert count == str(loaded)
    assert "customer_id" in columns and "batch_id" in columns


def test_a_failed_row_count_check_records_the_count_it_observed(published):
    """A row count out of range (the volume warning) is reported with the count it observed,
    read directly instead of in a second GX pass; a failed column check keeps GX's details."""
    import great_expectations as gx
    from portrait.expectations.gates import run_gate
    from portrait.expectations.suites import WARNING, SuiteSpec, severity

    settings, _ = published
    spec = SuiteSpec(
        name="probe.customers",
        table="raw.customers",
        query="select * from raw.customers",
        expectations=[
            gx.expectations.ExpectTableRowCountToBeBetween(
                min_value=10**9, meta=severity(WARNING, rule="volume")
            ),
            gx.expectations.ExpectTableColumnsToMatchSet(
                column_set=["customer_id"], exact_match=True, meta=severity(WARNING, rule="schema")
            ),
        ],
    )
    result = run_gate("landing", [spec], settings=settings, docs=False)
    count, columns = result.checks
    assert not count.success and count.observed == str(
        _one(settings, "select count(*) from raw.customers")[0]
    )
    assert not columns.success and "birth_date" in columns.observed


def test_a_gate_run_leaves_no_connection_open_nor_thread(published, monkeypatch):
    """GX's engines keep pooled connections until its context is garbage-collected; a gate run
    closes them, so a long-lived process (dag.test, the benchmarks) keeps no idle server process,
    and it leaves no thread behind."""
    import gc

    import great_expectations as gx
    from portrait.expectations.gates import run_gate
    from portrait.expectations.suites import CRITICAL, SuiteSpec, severity

    settings, _ = published
    name = f"portrait-test-gate-{time.monotonic_ns()}"
    monkeypatch.setenv("PGAPPNAME", name)  # libpq names GX's sessions after it
    spec = SuiteSpec(
        name="probe.branches",
        table="raw.branches",
        query="select * from raw.branches",
        expectations=[
            gx.expectations.ExpectTableRowCountToBeBetween(
                min_value=1, meta=severity(CRITICAL, rule="volume")
            )
        ],
    )
    gc.disable()  # the context's cycles stay uncollected, as they may in a busy process
    try:
        result = run_gate("landing", [spec], settings=settings, docs=False)
        assert result.checks[0].success
        open_sessions = _one(
            settings,
            "select count(*) from pg_stat_activity where application_name = %s and pid <> pg_backend_pid()",
            name,
        )[0]
    finally:
        gc.enable()
    assert open_sessions == 0
    # nor a thread: tqdm's monitor (GX opens a bar per validation) kept the next build in the
    # process from forking its landing gate
    assert "tqdm_monitor" not in [thread.name for thread in threading.enumerate()]


def test_bi_reads_published_marts_and_dq_views_but_not_the_build_schema(published):
    settings, _ = published
    with psycopg.connect(warehouse.bi_url(settings)) as conn:
        assert conn.execute("select count(*) from marts.customer_portrait").fetchone()[0] > 0
        assert conn.execute("select count(*) from dq.validation_pass_rate").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from intermediate.int_transactions_deduplicated")


def test_a_failed_marts_gate_publishes_nothing_and_keeps_the_build_for_inspection(
    published, tmp_path
):
    settings, landing = published
    before = _marts_digest(settings)
    watermark = _one(settings, "select max(transactions_through) from dq.publications")[0]
    rows = list(csv.reader((landing / "customers.csv").open()))
    header = rows[0]
    retail = next(
        i for i, r in enumerate(rows[1:], start=1) if r[header.index("customer_type")] == "retail"
    )
    rows[retail][header.index("birth_date")] = (
        "1890-01-01"  # a 135-year-old customer: valid landing, absurd portrait
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in landing.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    with (bad / "customers.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    ingest(bad, batch_date=date(2025, 4, 1), settings=settings)
    with pytest.raises(GateFailed) as info:
        build(settings=settings)
    message = info.value.line()
    assert (
        "marts gate failed" in message and "age_years" in message and "customer_portrait" in message
    )
    assert _marts_digest(settings) == before, "published marts must stay exactly as they were"
    assert _one(settings, "select max(transactions_through) from dq.publications")[0] == watermark
    assert _one(settings, "select to_regclass('marts_build.customer_portrait')")[0] is not None
    ingest(
        landing, batch_date=date(2025, 4, 1), settings=settings
    )  # the corrected delivery replaces the batch
    # the refused delivery's rows, taken into the incremental tables, are gone with it
    report = build(settings=settings)
    assert report.published
    assert "since been replaced" in (report.full_refresh_reason or "")
    assert build(settings=settings).full_refresh_reason is None  # once rebuilt, incremental again


def test_a_landing_gate_failure_publishes_nothing_and_the_next_build_rebuilds_the_increments(
    published,
):
    """dbt builds beside the landing gate; when the gate refuses the batch, nothing is published
    and the next build rebuilds the incremental tables from raw instead of keeping what they took
    in from the refused batch."""
    settings, _ = published
    before = _marts_digest(settings)
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        batch = conn.execute(
            "select batch_id from dq.ingest_batches where status = 'loaded' order by started_at desc limit 1"
        ).fetchone()[0]
        # a row that bypassed the loader (a bug or a manual fix): the gate is the second line of defence
        conn.execute(  # as if the batch had been loaded after the last publication
            "update dq.ingest_batches set ingested_at = now() where batch_id = %s", (batch,)
        )
        conn.execute("update dq.publications set batches = batches - %s", (batch,))
        conn.execute(
            "insert into raw.products (product_id, product_name, family, is_asset, ftp_rate, batch_id, batch_date) "
            "select product_id, product_name, 'spaceship', is_asset, ftp_rate, batch_id, batch_date "
            "from raw.products where batch_id = %s limit 1",
            (batch,),
        )
    take_cut(settings)  # the batch set a build would take now
    # the gate beside dbt runs in a forked child process: the same checks and verdict as here
    here = run_landing_gate(settings)
    child = forked.ForkedGate(
        functools.partial(run_landing_gate, settings, docs_in_background=True)
    ).result()
    child.finish_docs()

    def verdicts(result) -> list[tuple]:
        return sorted(
            (c.suite, c.expectation, c.column or "", c.success, c.unexpected_count)
            for c in result.checks
        )

    assert verdicts(child) == verdicts(here) and len(verdicts(here)) > 20
    assert not child.success and {c.suite for c in child.critical_failures} == {"landing.products"}
    docs = data_docs_dir(settings, "landing") / "index.html"
    started = time.time()
    with pytest.raises(GateFailed, match=r"landing gate failed: suite landing\.products"):
        build(settings=settings)
    assert _marts_digest(settings) == before
    # the failed run's Data Docs are written before the build reports the failure
    assert docs.is_file() and docs.stat().st_mtime >= started - 1
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute(
            "delete from raw.products where family = 'spaceship'"
        )  # the fix: later tests start clean
        assert conn.execute("select count(*) from dq.rebuild_requests").fetchone()[0] == 1
    report = build(settings=settings)
    assert report.published and "landing gate refused" in (report.full_refresh_reason or "")
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        assert conn.execute("select count(*) from dq.rebuild_requests").fetchone()[0] == 0
        assert (
            conn.execute(
                "select count(*) from intermediate.int_transactions_deduplicated where product_family = 'spaceship'"
            ).fetchone()[0]
            == 0
        )


def test_dq_report_page_shows_the_latest_runs(published):
    from html.parser import HTMLParser

    from portrait.expectations.reports import write_report

    settings, _ = published
    summary = write_report(settings)
    page = summary.path.read_text()
    links: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            links.extend(v for k, v in attrs if k in {"href", "src"} and v)

    Links().feed(page)
    local = [link for link in links if not link.startswith("#")]
    assert {"../data_docs/landing/index.html", "../data_docs/marts/index.html"} <= set(local), links
    for link in local:
        assert (summary.path.parent / link).resolve().is_file(), f"broken link {link}"
    latest = {r["stage"]: r for r in summary.latest_runs}
    assert set(latest) == {"landing", "marts"}
    assert latest["marts"]["run_id"] in page


def test_the_report_keeps_a_warning_of_an_earlier_gate_of_the_same_build(published):
    """After the build's marts gate warns, the scored-marts gate of the same build passes: the
    headline stays WARN and the warning shows what was observed, what is allowed, what to do."""
    import great_expectations.expectations as gxe
    from portrait.expectations.gates import run_gate
    from portrait.expectations.reports import write_report
    from portrait.expectations.suites import WARNING, SuiteSpec, severity

    settings, _ = published
    build(settings=settings)
    shifted = SuiteSpec(
        name="marts.customer_portrait",
        table="marts.customer_portrait",
        query="select 'txn_count_90d' as indicator, 0.41 as psi",
    )
    shifted.expectations.append(
        gxe.UnexpectedRowsExpectation(
            description="PSI of txn_count_90d against the published marts stays below 0.25",
            unexpected_rows_query="select * from {batch}",
            meta=severity(
                WARNING,
                rule="distribution shift (PSI)",
                column="txn_count_90d",
                threshold=0.25,
                report_rows=True,
            ),
        )
    )
    fine = SuiteSpec(
        name="marts.next_best_offer", table="marts.customer_portrait", query="select 1 as one"
    )
    fine.expectations.append(
        gxe.ExpectColumnValuesToNotBeNull(column="one", meta=severity(WARNING))
    )
    warned = run_gate("marts", [shifted], settings=settings, docs=False)
    passed = run_gate("marts", [fine], settings=settings, docs=False)
    summary = write_report(settings)
    assert summary.status == "WARN"
    runs = {r["run_id"] for r in summary.latest_runs}
    assert {warned.run_id, passed.run_id} <= runs and len(
        runs
    ) == 3  # the build's marts gate, and these
    warning = next(f for f in summary.failures if f["column"] == "txn_count_90d")
    assert "psi=0.41" in warning["observed"] and warning["threshold"] == "<= 0.25"
    assert warning["next_step"].startswith("The indicator moved")
    page = summary.path.read_text()
    assert 'class="status-WARN"' in page and "psi=0.41" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _links(page: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v for k, v in attrs if k in {"href", "src"} and v)

    Links().feed(page)
    return found


def _rendered(url: str) -> str:
    """The DOM of ``url`` after a real headless Chromium has loaded and run it."""
    result = subprocess.run(
        [
            *HEADLESS,
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: `make test` installs it where "
    "apt is available (as on CI); elsewhere install it to run the browser test",
)
def test_the_report_renders_in_a_real_browser_with_the_latest_run_and_no_broken_links(published):
    from portrait.expectations.reports import write_report

    settings, _ = published
    summary = write_report(settings)
    dom = _rendered(summary.path.as_uri())
    runs = [r["run_id"] for r in summary.latest_runs]
    assert "Portrait data quality" in dom and runs and all(run in dom for run in runs)
    links = [link for link in _links(dom) if not link.startswith("#")]
    assert links, "the page links to the Data Docs"
    for link in links:
        target = (summary.path.parent / link).resolve()
        assert target.is_file(), f"broken link {link}"
        docs = _rendered(target.as_uri())
        assert "Validation" in docs or "Expectation" in docs, link
        for page in _links(docs):
            if page.endswith(".html") and "://" not in page:
                assert (target.parent / page.split("#")[0]).resolve().is_file(), (
                    f"broken Data Docs link {page}"
                )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_data_docs_render_offline_with_their_scripts_and_keep_every_run(published):
    """Every page of the latest runs' sites loads its CSS and JavaScript from the report folder;
    Chromium, with every outside address sent to a closed port, runs bootstrap-table's script on
    a validation page. Earlier runs stay listed and readable."""
    from portrait.expectations import datadocs
    from portrait.expectations.gates import data_docs_dir

    settings, _ = published
    if not all((datadocs.NPM_ROOT / name).is_file() for name in datadocs.CDN_FILES.values()):
        pytest.skip("the Data Docs assets are not installed (`make setup` installs them with npm)")
    build(settings=settings, full_refresh=True)  # runs both gates and writes their sites
    runs = sorted(p for p in data_docs_dir(settings, "marts").iterdir() if p.is_dir())
    assert len(runs) >= 2, "earlier runs are kept"
    index = (data_docs_dir(settings, "marts") / "index.html").read_text()
    assert all(f"{run.name}/index.html" in index for run in runs)
    pages = list(runs[-1].rglob("*.html"))
    assert (
        pages
        and {str(p): datadocs.external_assets(p) for p in pages if datadocs.external_assets(p)}
        == {}
    )
    page = next(p for p in pages if "/validations/" in str(p))
    assert "fixed-table-container" not in page.read_text()
    result = subprocess.run(
        [
            *HEADLESS,
            "--proxy-server=http://127.0.0.1:9",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fixed-table-container" in result.stdout, "bootstrap-table's script did not run offline"


def test_rows_the_loader_quarantines_never_reach_the_marts(published, tmp_path):
    """Each kind of broken transaction row, end to end: quarantined at ingest, absent from marts."""
    settings, landing = published
    bad = tmp_path / "broken"
    bad.mkdir()
    for f in landing.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    rows = list(csv.reader((bad / "transactions.csv").open()))
    header = rows[0]
    breaks = {
        5: {"amount": "-3.00"},
        6: {"account_id": "A99999999"},
        7: {"booked_at": "2099-01-01T00:00:00Z"},
        8: {"amount": "12,50"},
    }
    broken_ids = []
    for line, changes in breaks.items():
        row = list(rows[line - 1])
        row[header.index("txn_id")] = (
            f"TBAD{line:07d}"  # new transactions, not seen in earlier batches
        )
        for column, value in changes.items():
            row[header.index(column)] = value
        rows.append(row)
        broken_ids.append(row[header.index("txn_id")])
    good = list(rows[9])
    good[header.index("txn_id")] = "TGOOD000001"
    rows.append(good)
    with (bad / "transactions.csv").open("w", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    report = ingest(bad, batch_date=date(2025, 4, 2), settings=settings)
    quarantined = {
        r[0]
        for r in _all(
            settings,
            "select record ->> 'txn_id' from quarantine.rejected_rows "
            "where batch_id = %s and source_table = 'transactions'",
            report.batch_id,
        )
    }
    assert set(broken_ids) <= quarantined
    assert build(settings=settings).published
    assert (
        _all(
            settings, "select txn_id from marts.fct_transactions where txn_id = any(%s)", broken_ids
        )
        == []
    )
    assert _all(
        settings, "select txn_id from marts.fct_transactions where txn_id = 'TGOOD000001'"
    ) == [("TGOOD000001",)]


def _all(settings: Settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()
