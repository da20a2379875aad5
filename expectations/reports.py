"""The data-quality summary for governance: every gate of the latest build together (landing,
marts, scored marts) with a headline for the worst result, each failure and warning with what
was observed, what the check allows and what to do next, and the trend per suite and day.

One self-contained HTML page (no external assets, so it opens anywhere and has no broken links)
under PORTRAIT_HOME/reports/dq/index.html.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from portrait import files, warehouse
from portrait.config import Settings, get_settings

# what to do about a failed check, by its suite's rule (meta["rule"])
NEXT_STEPS = {
    "schema": "The delivery's columns differ from the landing contract: ask the source for the contracted layout (`portrait contract`).",
    "key": "Keys repeat: find them in the sample, get a corrected file and deliver the batch again.",
    "required": "Required values are missing: get a corrected file and deliver the batch again.",
    "allowed values": "Values outside the contract's list: have the source map them, or extend the contract.",
    "range": "Values outside the allowed range: check the sample rows with the source.",
    "referential integrity": "Rows name parents never delivered: deliver the parents (customers, accounts) first or together.",
    "volume against the median of recent batches": "Row count far from recent batches: confirm with the source that the delivery is complete.",
    "volume": "Too few rows: confirm with the source that the delivery is complete.",
    "quarantine share": "Many rows were quarantined: read quarantine.rejected_rows for the rules they broke.",
    "batch date against the newest dated fact": "The batch is dated long after its data: deliver it with delivery.json naming its real date.",
    "completeness": "A mart lost values: follow its lineage in the dbt docs to the model that dropped them.",
    "portrait not empty": "No customer has a portrait: check that the delivery holds active customers for the as-of date.",
    "distribution shift (PSI)": "The indicator moved against the published marts: confirm the cause (a new month, new products, a delivery problem) before relying on it.",
    "ratio range": "A ratio is out of range: check the indicator's inputs for the customers in the sample.",
    "score range": "Scores are out of range: check the champion version (`portrait models`) and rescore.",
    "control group share": "The control group share is off: check var target_control_share and the list's size.",
    "lineage": "Scores carry no model version: rescore with `portrait score`.",
}
DEFAULT_NEXT_STEP = "Read the suite's Data Docs page and dq.validation_results for this run."


@dataclass
class Summary:
    build_id: str | None
    status: str  # FAILED, WARN or OK: the worst result of the latest build's gates
    latest_runs: list[dict]
    trend: list[dict]
    failures: list[dict]
    path: Path


def _rows(conn, query: str, *params) -> list[dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def collect(settings: Settings) -> tuple[str | None, list[dict], list[dict], list[dict]]:
    """The latest build's id, its gate runs, their failures and warnings, and the trend."""
    from portrait.expectations.gates import ensure_tables

    ensure_tables(settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        build = conn.execute(
            "select build_id from dq.validation_results where build_id is not null "
            "order by run_at desc limit 1"
        ).fetchone()
        build_id = build[0] if build else None
        # runs without a build id (a gate run by hand before any build) count as one group
        runs = _rows(
            conn,
            """
            select stage, run_id, max(run_at) as run_at, count(distinct suite) as suites, count(*) as checks,
                   count(*) filter (where success) as passed,
                   count(*) filter (where not success and severity = 'critical') as critical_failures,
                   count(*) filter (where not success and severity <> 'critical') as warnings
            from dq.validation_results where build_id is not distinct from %s::text
              and (%s::text is not null or run_id = (select run_id from dq.validation_results order by run_at desc limit 1))
            group by stage, run_id order by max(run_at)""",
            build_id,
            build_id,
        )
        failures = _rows(
            conn,
            """
            select severity, stage, suite, table_name, "column", expectation, rule, observed, threshold,
                   unexpected_count, description, sample::text as sample
            from dq.validation_results where not success and run_id = any(%s)
            order by severity, stage, suite, "column" limit 300""",
            [r["run_id"] for r in runs],
        )
        trend = _rows(
            conn,
            """
            select run_date, suite, sum(checks) as checks, sum(passed) as passed,
                   round(sum(passed)::numeric / nullif(sum(checks), 0), 4) as pass_rate,
                   sum(critical_failures) as critical_failures, sum(warnings) as warnings
            from dq.validation_pass_rate group by run_date, suite order by run_date desc, suite limit 300""",
        )
    for failure in failures:
        failure["next_step"] = NEXT_STEPS.get(failure["rule"] or "", DEFAULT_NEXT_STEP)
    return build_id, runs, failures, trend


def status_of(runs: list[dict]) -> str:
    if any(r["critical_failures"] for r in runs):
        return "FAILED"
    return "WARN" if any(r["warnings"] for r in runs) else "OK"


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "<p class='none'>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = (
            " class='bad'"
            if row.get("critical_failures") or row.get("severity") == "critical"
            else " class='warn'"
            if row.get("warnings") or row.get("severity") == "warning"
            else ""
        )
        cells = "".join(
            f"<td>{html.escape('' if row.get(c) is None else str(row.get(c)))}</td>"
            for c in columns
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(
    build_id: str | None,
    runs: list[dict],
    failures: list[dict],
    trend: list[dict],
    docs: list[str] | None = None,
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = " | ".join(
        f"<a href='../data_docs/{html.escape(stage)}/index.html'>{html.escape(stage)} gate</a>"
        for stage in docs or []
    )
    runs_with_docs = " | ".join(
        f"<a href='../data_docs/{html.escape(r['stage'])}/{html.escape(r['run_id'])}/index.html'>{html.escape(r['run_id'])}</a>"
        for r in runs
        if r.get("docs")
    )
    docs_line = (
        f"<p id='data-docs'>Great Expectations Data Docs of this build's runs: {runs_with_docs or 'none written'}; "
        f"every run of every gate: {links}</p>"
        if links
        else ""
    )
    status = status_of(runs)
    counts = (
        f"{sum(r['critical_failures'] for r in runs)} critical failure(s), "
        f"{sum(r['warnings'] for r in runs)} warning(s) in {len(runs)} gate run(s)"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portrait data quality</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }} tr.bad td {{ background: #fde8e8; }} tr.warn td {{ background: #fff6db; }}
.none {{ color: #666; }} .status-OK {{ color: #1a7f37; }} .status-WARN {{ color: #9a6700; }}
.status-FAILED {{ color: #b42318; }}
</style></head><body>
<h1>Portrait data quality <span id="status" class="status-{status}">{status}</span></h1>
<p id="headline">Latest build <code>{html.escape(build_id or "none")}</code>: {counts}.
Generated {now}. Every check is stored in <code>dq.validation_results</code>; BI reads
<code>dq.validation_pass_rate</code>.</p>
{docs_line}
<h2 id="latest">Gates of the latest build</h2>
{_table(runs, ["stage", "run_id", "run_at", "suites", "checks", "passed", "critical_failures", "warnings"])}
<h2 id="failures">Failures and warnings of the latest build</h2>
{_table(failures, ["severity", "stage", "suite", "table_name", "column", "observed", "threshold", "unexpected_count", "next_step", "sample"])}
<h2 id="trend">Trend per suite and day</h2>
{_table(trend, ["run_date", "suite", "checks", "passed", "pass_rate", "critical_failures", "warnings"])}
</body></html>
"""


def write_report(settings: Settings | None = None) -> Summary:
    settings = settings or get_settings()
    build_id, runs, failures, trend = collect(settings)
    path = settings.reports_dir / "dq" / "index.html"
    docs_root = settings.reports_dir / "data_docs"
    docs = sorted(p.parent.name for p in docs_root.glob("*/index.html"))
    for run in runs:
        run["docs"] = (docs_root / run["stage"] / run["run_id"] / "index.html").is_file()
    files.write_text(path, render(build_id, runs, failures, trend, docs))
    return Summary(
        build_id=build_id,
        status=status_of(runs),
        latest_runs=runs,
        trend=trend,
        failures=failures,
        path=path,
    )
