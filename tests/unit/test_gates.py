"""Suites built from the contract, severities, and the one-line gate failure."""

from __future__ import annotations

import threading

import pytest
from portrait.expectations.gates import CheckResult, GateFailed, GateResult, raise_if_failed
from portrait.expectations.reports import render
from portrait.expectations.suites import CRITICAL, WARNING, landing, marts

from portrait.ingest.contract import TABLES_BY_NAME


def test_landing_suite_checks_key_required_allowed_range_and_references():
    spec = landing.table_suite(
        TABLES_BY_NAME["transactions"], ["synthetic-20250131"], recent_counts=[100, 120, 110]
    )
    kinds = [type(e).__name__ for e in spec.expectations]
    assert "ExpectTableColumnsToMatchSet" in kinds
    key = next(e for e in spec.expectations if e.meta.get("rule") == "key")
    assert "group by batch_id, txn_id having count(*) > 1" in key.unexpected_rows_query, (
        "keys are unique within each batch"
    )
    assert "'synthetic-20250131'" in spec.query
    severities = {type(e).__name__: e.meta["severity"] for e in spec.expectations}
    assert severities["ExpectTableRowCountToBeBetween"] == WARNING, (
        "volume anomalies warn, they do not block"
    )
    assert severities["UnexpectedRowsExpectation"] == CRITICAL
    volume = next(
        e for e in spec.expectations if type(e).__name__ == "ExpectTableRowCountToBeBetween"
    )
    assert (volume.min_value, volume.max_value) == (55, 230)


def test_batch_ids_are_quoted_safely():
    spec = landing.table_suite(
        TABLES_BY_NAME["customers"], ["x'); drop table raw.customers; --"], []
    )
    assert "'x''); drop table raw.customers; --'" in spec.query


def test_marts_suite_adds_psi_only_when_a_published_portrait_exists():
    first = marts.suites("marts_build", None)
    later = marts.suites("marts_build", "marts")
    assert len(later[0].expectations) == len(first[0].expectations) + len(marts.PSI_INDICATORS)
    assert all(
        e.meta["severity"] == WARNING for e in later[0].expectations[len(first[0].expectations) :]
    )


def _check(success: bool, severity: str) -> CheckResult:
    return CheckResult(
        suite="marts.customer_portrait",
        table="marts_build.customer_portrait",
        expectation="expect_column_values_to_be_between",
        column="age_years",
        severity=severity,
        success=success,
        unexpected_count=1,
        observed=None,
        description="range",
    )


def test_warnings_do_not_block_and_critical_failures_name_suite_expectation_and_table():
    ok = GateResult(
        run_id="r1",
        stage="marts",
        seconds=0,
        checks=[_check(True, CRITICAL), _check(False, WARNING)],
    )
    raise_if_failed(ok)
    assert ok.success and len(ok.warnings) == 1
    bad = GateResult(run_id="r2", stage="marts", seconds=0, checks=[_check(False, CRITICAL)])
    with pytest.raises(GateFailed) as info:
        raise_if_failed(bad)
    line = info.value.line()
    assert (
        "suite marts.customer_portrait" in line
        and "marts_build.customer_portrait" in line
        and "age_years" in line
    )


def test_report_page_is_self_contained_and_flags_failures():
    page = render(
        "build-1",
        [
            {
                "stage": "marts",
                "run_id": "r2",
                "run_at": "now",
                "suites": 1,
                "checks": 3,
                "passed": 2,
                "critical_failures": 1,
                "warnings": 0,
            }
        ],
        [
            {
                "severity": "critical",
                "stage": "marts",
                "suite": "s",
                "table_name": "t",
                "column": "c",
                "observed": "<b>",
                "threshold": "<= 1",
                "unexpected_count": 1,
                "next_step": "do this",
                "sample": "[5]",
            }
        ],
        [],
    )
    assert 'class="status-FAILED"' in page and "&lt;b&gt;" in page and "do this" in page
    assert "http" not in page.replace("http-equiv", ""), "no external links or assets"


def test_the_headline_is_the_worst_result_of_any_gate_of_the_build():
    from portrait.expectations.reports import NEXT_STEPS, status_of

    warned = {"critical_failures": 0, "warnings": 2}
    clean = {"critical_failures": 0, "warnings": 0}
    assert status_of([warned, clean]) == "WARN" and status_of([clean]) == "OK"
    assert status_of([clean, {"critical_failures": 1, "warnings": 0}]) == "FAILED"
    rules = {
        str(e.meta.get("rule"))
        for spec in [
            *landing.suites(["b"], {name: [100] for name in TABLES_BY_NAME}, set(TABLES_BY_NAME)),
            *marts.suites("x", "y"),
            *marts.score_suites("x"),
        ]
        for e in spec.expectations
    }
    assert rules - set(NEXT_STEPS) == set(), "every rule has a next step"


def test_docs_written_in_the_background_are_awaited_and_their_error_reaches_the_caller():
    result = GateResult(run_id="r3", stage="landing", seconds=0)
    written = threading.Event()

    def write() -> None:
        written.wait(timeout=5)  # still writing when finish_docs() is called
        result._docs_error = OSError("disk full")

    result._docs = threading.Thread(target=write)
    result._docs.start()
    written.set()
    with pytest.raises(OSError, match="disk full"):
        result.finish_docs()
    assert result._docs is None
    result.finish_docs()  # reported once; nothing left to wait for


def test_a_marts_suite_waits_for_every_build_table_it_reads():
    from portrait.gates_beside import build_tables_read

    reads = {spec.name: build_tables_read(spec) for spec in marts.suites("marts_build", "marts")}
    # the completeness check reads dim_customer beside the portrait; the PSI checks read the
    # published marts, which are there before the build starts
    assert reads["marts.customer_portrait"] == {"customer_portrait", "dim_customer"}
    assert reads["marts.customer_contribution"] == {"customer_contribution"}
    assert reads["marts.campaign_target_list"] == {"campaign_target_list"}


def _node_finished(schema: str, alias: str, status: str = "success"):
    from types import SimpleNamespace as NS

    return NS(
        info=NS(name="NodeFinished"),
        data=NS(
            node_info=NS(node_name=alias, node_relation=NS(schema=schema, alias=alias)),
            run_result=NS(status=status),
        ),
    )


def test_dbt_progress_releases_a_waiter_when_its_tables_are_built_or_dbt_fails():
    from portrait.dbt_runner import DbtProgress

    lines: list[str] = []
    progress = DbtProgress(lines.append)
    answers: list[bool] = []
    waiter = threading.Thread(
        target=lambda: answers.append(progress.wait_for({"a", "b"})), daemon=True
    )
    waiter.start()
    progress.on_event(_node_finished("marts_build", "a"))
    progress.on_event(_node_finished("intermediate", "b"))  # another schema's b
    progress.on_event(_node_finished("marts_build", "b", status="error"))
    progress.on_event(type("Other", (), {"info": type("I", (), {"name": "NodeStart"})})())
    waiter.join(timeout=0.3)
    assert waiter.is_alive() and not answers, "b is not built yet"
    progress.on_event(_node_finished("marts_build", "b"))
    waiter.join(timeout=5)
    assert answers == [True]
    assert lines == [f"dbt: {n} nodes done, last {name}" for n, name in enumerate("abbb", start=1)]
    assert progress.wait_for({"a"}) is True
    progress.on_event(None)  # a malformed event never breaks dbt's run
    progress.finished(False)
    assert progress.wait_for({"never_built"}) is False, "dbt failed: nothing more to wait for"
    done = DbtProgress()
    done.finished(True)
    assert done.wait_for({"not_a_model"}) is True
