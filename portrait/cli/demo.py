"""`portrait demo`: every stage that exists, end to end, then where to look.

Re-running is cheap: a step whose inputs have not changed is skipped (the generator's manifest
records its parameters; the ingest audit records each file's sha256).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import typer

from portrait import warehouse
from portrait.cli.output import JsonOption, console, emit, log_path, output_to_log
from portrait.config import Settings, get_settings


def _generated(folder: Path, customers: int, months: int, seed: int) -> bool:
    manifest = folder / "_manifest.json"
    if not manifest.exists():
        return False
    m = json.loads(manifest.read_text())
    return (m.get("customers"), m.get("months"), m.get("seed")) == (customers, months, seed)


SHOWN_TABLES = ("marts.customer_portrait", "marts.customer_tags", "marts.next_best_offer",
                "marts.campaign_target_list", "marts.campaign_performance", "marts.fct_transactions",
                "ml.customer_scores", "quarantine.rejected_rows")  # fmt: skip


def _table_counts(settings: Settings) -> dict[str, int]:
    counts = {}
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        for table in SHOWN_TABLES:
            if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0]:
                counts[table] = conn.execute(f"select count(*) from {table}").fetchone()[0]
    return counts


def _models(settings: Settings) -> list[dict]:
    from portrait.ml.promote import listing

    return listing(settings)


def _dq_status(settings: Settings) -> str:
    """The latest build's data quality, as the DQ report shows it (and the report written)."""
    from portrait.expectations.reports import write_report

    summary = write_report(settings)
    if not summary.latest_runs:
        return "no validation yet"
    checks = sum(r["checks"] for r in summary.latest_runs)
    passed = sum(r["passed"] for r in summary.latest_runs)
    return f"{summary.status}: {passed}/{checks} checks passed in the latest build's gates ({summary.path})"


def demo(
    customers: int = typer.Option(10_000, "--customers", min=20),
    months: int = typer.Option(12, "--months", min=1),
    seed: int = typer.Option(42, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Start the warehouse, generate a synthetic bank, run the daily pipeline through Airflow, print where to look."""
    from portrait.dbt_docs import docs_path

    settings = get_settings()
    began = time.perf_counter()
    steps: list[dict] = []

    def step(name: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        if not as_json and console.is_terminal:
            console.print(f"… {name}", end="\r")
        detail = fn()
        steps.append(
            {"step": name, "seconds": round(time.perf_counter() - t0, 2), "detail": detail}
        )
        if not as_json:
            console.print(f"[green]✓[/] {name:<10} {steps[-1]['seconds']:>6.1f}s  {detail}")

    landing = settings.home / "landing" / "synthetic"
    log = log_path(settings, "demo")

    def start() -> str:
        return "started" if warehouse.ensure_started(settings) else "already running"

    def gen() -> str:
        if _generated(landing, customers, months, seed):
            return f"unchanged ({landing})"
        from portrait.synth.generator import generate

        result = generate(landing, customers=customers, months=months, seed=seed)
        return f"{sum(result.rows.values()):,} rows in {len(result.files)} files ({landing})"

    def pipeline() -> str:
        from portrait.orchestration.runner import run_daily

        with output_to_log(log) as out:
            report = run_daily(
                landing_dir=str(landing),
                settings=settings,
                log=str(log),
                on_dag=lambda d: (
                    as_json or out.print(f"  {d.dag_id:<18} {d.state:<8} {d.seconds:>6.1f}s")
                ),
            )
        unchanged["pipeline"] = report.nothing_new
        if report.nothing_new:
            return "unchanged (this delivery is already loaded)"
        return f"Airflow ran {len(report.tasks)} tasks ({report.mode}); marts published"

    unchanged = {"pipeline": False}

    def models_step() -> str:
        from portrait.ml import models
        from portrait.ml.promote import listing
        from portrait.orchestration.runner import run_daily

        scheduled = set(models.names())
        champions = {row["model"] for row in listing(settings) if row["champion"]}
        if unchanged["pipeline"] and scheduled <= champions:
            return "unchanged (champions already trained on this data)"
        with output_to_log(log) as out:
            report = run_daily(
                settings=settings,
                log=str(log),
                dag_ids=("ml_training", "customer_scoring", "campaign_feedback"),
                on_dag=lambda d: (
                    as_json or out.print(f"  {d.dag_id:<18} {d.state:<8} {d.seconds:>6.1f}s")
                ),
            )
        return (
            f"Airflow ran {len(report.tasks)} tasks ({report.mode}); "
            "scores and marketing marts published"
        )

    def docs_step() -> str:
        from portrait.dbt_docs import docs_path, write_docs

        if unchanged["pipeline"] and docs_path(settings).is_file():
            return f"unchanged ({docs_path(settings)})"
        with output_to_log(log):
            return f"dbt docs with lineage and exposures: {write_docs(settings)['path']}"

    step("warehouse", start)
    step("generate", gen)
    step("run", pipeline)
    step("train+score", models_step)
    step("docs", docs_step)

    payload = {
        "steps": steps,
        "tables": _table_counts(settings),
        "models": _models(settings),
        "data_quality": _dq_status(settings),
        "dbt_docs": str(docs_path(settings)),
        "mlflow_ui": f"mlflow ui --backend-store-uri {settings.tracking_uri()}",
        "seconds": round(time.perf_counter() - began, 2),
        "database": warehouse.status(settings).as_dict(),
        "home": str(settings.home),
        "log": str(log),
    }

    def human(p: dict) -> None:
        db = p["database"]
        console.print(f"\nDone in {p['seconds']:.1f}s.")
        console.print(f"Warehouse: {db['url']} (data in {db['data_dir']})")
        console.print(
            "  marts (BI, read-only role): marts.customer_portrait, customer_indicators, customer_tags,"
        )
        console.print(
            "    customer_contribution, contribution_pareto, customer_segments, segment_migration,"
        )
        console.print(
            "    marketing_triggers, campaign_performance, dim_customer, fct_transactions, ..."
        )
        console.print(
            "  raw.<table> as loaded; rejected rows: quarantine.rejected_rows; audit: dq.ingest_batches"
        )
        console.print(
            "  indicator catalogue: docs/indicator-catalogue.md; landing contract: docs/landing-contract.md"
        )
        console.print(
            "  Airflow runs: `portrait airflow -- dags list-runs warehouse_build`;"
            " UI and schedules: `portrait scheduler start`"
        )
        console.print(f"  logs of this demo (Airflow, dbt, GX): {p['log']}")
        console.print(
            "  marketing: marts.next_best_offer, campaign_target_list; scores: ml.customer_scores"
        )
        console.print("Row counts: " + ", ".join(f"{k} {v:,}" for k, v in p["tables"].items()))
        for m in p["models"]:
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in m["champion_metrics"].items())
            console.print(f"Model {m['model']}: champion v{m['champion'] or '-'} {metrics}")
        dq = p["data_quality"]
        console.print(f"Data quality: {dq}")
        console.print("  data-quality summary: `portrait dq report`")
        console.print(
            f"  dbt docs (lineage, every model and column): {p['dbt_docs']}", soft_wrap=True
        )
        console.print(f"  MLflow UI: `{p['mlflow_ui']}`")
        console.print("BI connection string: `portrait db url --role bi`")
        console.print(f"Local state: {p['home']}")

    emit(payload, as_json, human)
