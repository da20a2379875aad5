"""The data-quality summary for governance: latest run per stage, trend per suite, latest failures.

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


@dataclass
class Summary:
    latest_runs: list[dict]
    trend: list[dict]
    failures: list[dict]
    path: Path


def _rows(conn, query: str) -> list[dict]:
    cur = conn.execute(query)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def collect(settings: Settings) -> tuple[list[dict], list[dict], list[dict]]:
    from portrait.expectations.gates import ensure_tables

    ensure_tables(settings)
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        latest = _rows(
            conn,
            """
            select distinct on (stage) stage, run_id, max(run_at) over (partition by run_id) as run_at,
                   count(*) over (partition by run_id) as checks,
                   count(*) filter (where success) over (partition by run_id) as passed,
                   count(*) filter (where not success and severity = 'critical') over (partition by run_id) as critical_failures,
                   count(*) filter (where not success and severity <> 'critical') over (partition by run_id) as warnings
            from dq.validation_results order by stage, run_at desc""",
        )
        trend = _rows(
            conn,
            """
            select run_date, stage, suite, checks, passed, pass_rate, critical_failures, warnings
            from dq.validation_pass_rate order by run_date desc, stage, suite limit 300""",
        )
        failures = _rows(
            conn,
            """
            select run_at, stage, suite, table_name, expectation, "column", severity, unexpected_count, observed,
                   description, sample::text as sample
            from dq.validation_results
            where not success and run_id in (select distinct on (stage) run_id from dq.validation_results order by stage, run_at desc)
            order by severity, suite limit 200""",
        )
    return latest, trend, failures


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "<p class='none'>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = (
            " class='bad'"
            if row.get("critical_failures") or row.get("severity") == "critical"
            else ""
        )
        cells = "".join(
            f"<td>{html.escape('' if row.get(c) is None else str(row.get(c)))}</td>"
            for c in columns
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(
    latest: list[dict], trend: list[dict], failures: list[dict], docs: list[str] | None = None
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = " | ".join(f"<a href='../data_docs/{html.escape(stage)}/index.html'>{html.escape(stage)} gate</a>"
                       for stage in docs or [])  # fmt: skip
    docs_line = (
        f"<p id='data-docs'>Great Expectations Data Docs of the latest runs: {links}</p>"
        if links
        else ""
    )
    status = "FAILED" if any(r["critical_failures"] for r in latest) else "OK"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portrait data quality</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }} tr.bad td {{ background: #fde8e8; }} .none {{ color: #666; }}
.status-OK {{ color: #1a7f37; }} .status-FAILED {{ color: #b42318; }}
</style></head><body>
<h1>Portrait data quality <span id="status" class="status-{status}">{status}</span></h1>
<p>Generated {now}. Every check is stored in <code>dq.validation_results</code>; BI reads <code>dq.validation_pass_rate</code>.</p>
{docs_line}
<h2 id="latest">Latest run per stage</h2>
{_table(latest, ["stage", "run_id", "run_at", "checks", "passed", "critical_failures", "warnings"])}
<h2 id="failures">Failures in the latest runs (with sample failing values)</h2>
{_table(failures, ["severity", "stage", "suite", "table_name", "column", "expectation", "description", "unexpected_count", "observed", "sample"])}
<h2 id="trend">Trend per suite</h2>
{_table(trend, ["run_date", "stage", "suite", "checks", "passed", "pass_rate", "critical_failures", "warnings"])}
</body></html>
"""


def write_report(settings: Settings | None = None) -> Summary:
    settings = settings or get_settings()
    latest, trend, failures = collect(settings)
    path = settings.reports_dir / "dq" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    docs = sorted(p.parent.name for p in (settings.reports_dir / "data_docs").glob("*/index.html"))
    files.write_text(path, render(latest, trend, failures, docs))
    return Summary(latest_runs=latest, trend=trend, failures=failures, path=path)
